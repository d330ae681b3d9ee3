import BatonStore
import Logging
import ServiceLifecycle

/// Periodically hands back the tasks whose lease ran out (their agent died or hung), moves
/// retries whose backoff is over to their ready queues, and finishes submissions whose process
/// died between storing a tree and queueing its ready tasks. Several schedulers may run it at once:
/// the transitions are idempotent.
public struct LeaseReaper: Service {
    let store: BatonStore
    let settings: SchedulerSettings
    let logger: Logger

    public init(store: BatonStore, settings: SchedulerSettings, logger: Logger) {
        self.store = store
        self.settings = settings
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await sweep()
            } catch {
                logger.warning("lease sweep failed", metadata: ["baton.error": "\(error)"])
            }
            do {
                try await Task.sleep(for: .milliseconds(settings.reaperIntervalMillis))
            } catch {
                break
            }
        }
    }

    /// One pass over every executor type.
    public func sweep() async throws {
        let executors = try await store.executorTypes()
        for executor in executors {
            let expired = try await store.reapExpiredLeases(executor: executor, holdMillis: settings.reapHoldMillis)
            if expired.isEmpty { continue }
            logger.info("leases expired", metadata: ["baton.executor": "\(executor)", "baton.count": "\(expired.count)"])
            try await store.apply(expired)
        }
        try await store.promoteDelayed(executors: executors)
        try await store.repairInflightSubmissions(olderThanMillis: settings.inflightRepairMillis)
        try await store.sweepExpiredTrees()
    }
}
