/// Tunables of `baton-scheduler` (YAML section `scheduler`).
public struct SchedulerConfig: Sendable, Codable, Equatable {
    /// Stream entries read and handled per round. YAML `batch_size`.
    public var batchSize: Int
    /// Milliseconds one read blocks waiting for new entries. YAML `block_ms`.
    public var blockMillis: Int
    /// Milliseconds between scans for expired leases and due delayed tasks. YAML `reaper_interval_ms`.
    public var reaperIntervalMillis: Int
    /// Approximate length bound of each tree's event stream (`XADD … MAXLEN ~`). YAML `events_maxlen`.
    public var eventsMaxLength: Int
    /// Milliseconds after which a bus entry another scheduler read but never acknowledged is taken
    /// over, whether or not that scheduler looks alive (the safety net). YAML `reclaim_idle_ms`.
    public var reclaimIdleMillis: Int = 30_000
    /// This scheduler's consumer name in the schedulers' group; `nil` (the default) makes one from
    /// the host and process id. A stable name (one per scheduler instance, e.g. from a service
    /// manager) lets a restarted scheduler resume its own unacknowledged entries at once.
    /// YAML `consumer_name`.
    public var consumerName: String?
    /// Milliseconds a submission may sit between storing its tree and queueing its ready tasks
    /// before the sweep takes its submitter for dead and queues them. YAML `inflight_repair_ms`.
    public var inflightRepairMillis: Int = 10_000
    /// Milliseconds between two passes of the orphan sweep, which finds tasks `in_progress` that
    /// hold no lease (their lease was taken before they started, and their agent died) and queues
    /// them again. YAML `orphan_sweep_ms`.
    public var orphanSweepMillis: Int = 30_000

    /// Creates scheduler tunables; every argument defaults to the value in `config/baton.yaml`.
    public init(
        batchSize: Int = 500,
        blockMillis: Int = 1000,
        reaperIntervalMillis: Int = 500,
        eventsMaxLength: Int = 10_000
    ) {
        self.batchSize = batchSize
        self.blockMillis = blockMillis
        self.reaperIntervalMillis = reaperIntervalMillis
        self.eventsMaxLength = eventsMaxLength
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case batchSize = "batch_size"
        case blockMillis = "block_ms"
        case reaperIntervalMillis = "reaper_interval_ms"
        case eventsMaxLength = "events_maxlen"
        case reclaimIdleMillis = "reclaim_idle_ms"
        case consumerName = "consumer_name"
        case inflightRepairMillis = "inflight_repair_ms"
        case orphanSweepMillis = "orphan_sweep_ms"
    }

    /// Decodes from YAML or JSON; absent keys keep their defaults, unknown keys are an error.
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = SchedulerConfig()
        batchSize = try container.decodeIfPresent(Int.self, forKey: .batchSize) ?? defaults.batchSize
        blockMillis = try container.decodeIfPresent(Int.self, forKey: .blockMillis) ?? defaults.blockMillis
        reaperIntervalMillis =
            try container.decodeIfPresent(Int.self, forKey: .reaperIntervalMillis) ?? defaults.reaperIntervalMillis
        eventsMaxLength = try container.decodeIfPresent(Int.self, forKey: .eventsMaxLength) ?? defaults.eventsMaxLength
        reclaimIdleMillis = try container.decodeIfPresent(Int.self, forKey: .reclaimIdleMillis) ?? defaults.reclaimIdleMillis
        consumerName = try container.decodeIfPresent(String.self, forKey: .consumerName)
        inflightRepairMillis =
            try container.decodeIfPresent(Int.self, forKey: .inflightRepairMillis) ?? defaults.inflightRepairMillis
        orphanSweepMillis = try container.decodeIfPresent(Int.self, forKey: .orphanSweepMillis) ?? defaults.orphanSweepMillis
    }
}
