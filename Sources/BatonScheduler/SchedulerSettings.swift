import BatonCore
import BatonStore

/// Tunables of a scheduler process (from `config/baton.yaml`, `scheduler:` section).
public struct SchedulerSettings: Sendable, Hashable {
    /// Bus entries read per round.
    public var batchSize: Int
    /// How long one read of the bus blocks when there is nothing to do.
    public var blockMillis: Int
    /// How often expired leases are reaped and due retries promoted.
    public var reaperIntervalMillis: Int
    /// After how long an entry another scheduler read but never acknowledged is taken over, even
    /// if that scheduler still looks alive (`scheduler.reclaim_idle_ms`).
    public var reclaimIdleMillis: Int
    /// How long this scheduler's liveness key lives without a refresh; it is refreshed every
    /// ``livenessRefreshMillis``. Another scheduler takes over a dead one's entries once it expired.
    public var livenessTTLMillis = 3_000
    /// How often the liveness key is refreshed.
    public var livenessRefreshMillis = 1_000
    /// How long a reaper holds a lease it took before another reaper may take it again (it dies
    /// meanwhile: the expiry is applied by the next one).
    public var reapHoldMillis = 30_000
    /// How long a submission may be between storing its tree and queueing its ready tasks before
    /// the sweep takes it for one whose process died and queues them.
    public var inflightRepairMillis: Int64 = 10_000
    /// How often the reports agents applied themselves are read and replayed (in batches: the
    /// replay only matters when an agent died between applying and dispatching).
    public var replayIntervalMillis = 1_000
    /// How often the orphan sweep looks for tasks `in_progress` without a lease.
    public var orphanSweepMillis = 30_000
    /// This consumer's name in the schedulers' group (unique per process).
    public var consumerName: String
    /// The checks of a Redis-native submission: the gateway's (`max_body_bytes`, `executor_policy`).
    public var submissionRules = SubmissionRules()
    /// The users with the admin role (from `gateway.api_keys`): a Redis-native submission that
    /// names one of them gets the admin's executor policy.
    public var adminUsers: Set<String> = []
    /// The limits of the executor types configured with some (`executors.<type>.max_running`,
    /// `max_running_per_key`); the fairness weights go to every type (`fairness.weights`).
    public var admission: [String: QueueAdmission] = [:]
    public var fairnessWeights: [String: Int] = [:]
    /// How often the admission is published to the queues (new executor types get it then).
    public var admissionIntervalMillis = 5_000
    /// How often the timekeeper looks for the earliest timer (`run_at`, schedules); when one is
    /// due sooner, it sleeps until that very time.
    public var timerIntervalMillis = 100

    public init(
        batchSize: Int = 500,
        blockMillis: Int = 1000,
        reaperIntervalMillis: Int = 500,
        reclaimIdleMillis: Int = 30_000,
        consumerName: String
    ) {
        self.batchSize = batchSize
        self.blockMillis = blockMillis
        self.reaperIntervalMillis = reaperIntervalMillis
        self.reclaimIdleMillis = reclaimIdleMillis
        self.consumerName = consumerName
    }
}
