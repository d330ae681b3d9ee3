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
    }
}
