/// Settings of one executor type (YAML `executors.<type>`).
public struct ExecutorTypeConfig: Sendable, Codable, Equatable {
    /// How many queue shards the type's ready tasks are spread over (on Redis Cluster they spread
    /// over the masters). A task always goes to the same shard (CRC16 of its tree and task id);
    /// priority order is strict within a shard, not across shards (`docs/PROTOCOL.md`, "Queue
    /// shards"). Every service of a namespace must use the same number. YAML `queue_shards`.
    public var queueShards: Int

    /// The most tasks of this type that run at once across all agents (`nil`: no limit),
    /// enforced when a task is claimed. YAML `max_running`. Needs one queue shard.
    public var maxRunning: Int?

    /// The most tasks of this type with one `concurrency_key` that run at once (`nil`: no
    /// limit). YAML `max_running_per_key`. Needs one queue shard.
    public var maxRunningPerKey: Int?

    /// How fast tasks of this type may start across all agents (`nil`: no limit), enforced when
    /// a task is claimed. YAML `rate_limit: {tasks: 50, interval_s: 1, burst: 5}`. Needs one queue shard.
    public var rateLimit: RateLimitConfig?

    /// How fast tasks of one `concurrency_key` may start (`nil`: no limit). YAML `rate_limit_per_key`.
    public var rateLimitPerKey: RateLimitConfig?

    /// The most shards a queue may have.
    public static let maxQueueShards = 256

    /// The highest `max_running` / `max_running_per_key`.
    public static let maxRunningCeiling = 1_000_000

    /// Creates the settings of an executor type; one queue shard and no limit by default.
    public init(
        queueShards: Int = 1, maxRunning: Int? = nil, maxRunningPerKey: Int? = nil,
        rateLimit: RateLimitConfig? = nil, rateLimitPerKey: RateLimitConfig? = nil
    ) {
        self.queueShards = queueShards
        self.maxRunning = maxRunning
        self.maxRunningPerKey = maxRunningPerKey
        self.rateLimit = rateLimit
        self.rateLimitPerKey = rateLimitPerKey
    }

    /// Whether any admission limit is set (they need `queue_shards: 1`).
    public var hasLimits: Bool { maxRunning != nil || maxRunningPerKey != nil || rateLimit != nil || rateLimitPerKey != nil }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case queueShards = "queue_shards"
        case maxRunning = "max_running"
        case maxRunningPerKey = "max_running_per_key"
        case rateLimit = "rate_limit"
        case rateLimitPerKey = "rate_limit_per_key"
    }

    /// Decodes from YAML or JSON; absent keys keep their defaults, unknown keys are an error.
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        queueShards = try container.decodeIfPresent(Int.self, forKey: .queueShards) ?? ExecutorTypeConfig().queueShards
        maxRunning = try container.decodeIfPresent(Int.self, forKey: .maxRunning)
        maxRunningPerKey = try container.decodeIfPresent(Int.self, forKey: .maxRunningPerKey)
        rateLimit = try container.decodeIfPresent(RateLimitConfig.self, forKey: .rateLimit)
        rateLimitPerKey = try container.decodeIfPresent(RateLimitConfig.self, forKey: .rateLimitPerKey)
    }
}

/// `tasks` starts per `interval_s` seconds, at most `burst` at once after a quiet spell.
public struct RateLimitConfig: Sendable, Codable, Equatable {
    public var tasks: Int
    public var intervalSeconds: Double
    public var burst: Int

    public init(tasks: Int, intervalSeconds: Double = 1, burst: Int = 1) {
        self.tasks = tasks
        self.intervalSeconds = intervalSeconds
        self.burst = burst
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case tasks
        case intervalSeconds = "interval_s"
        case burst
    }

    /// Decodes from YAML or JSON; `tasks` is required, unknown keys are an error.
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        tasks = try container.decode(Int.self, forKey: .tasks)
        intervalSeconds = try container.decodeIfPresent(Double.self, forKey: .intervalSeconds) ?? 1
        burst = try container.decodeIfPresent(Int.self, forKey: .burst) ?? 1
    }
}

extension BatonConfig {
    /// The queue shard count of every executor type configured with one (`executors.<type>.queue_shards`).
    public var queueShards: [String: Int] { executors.mapValues(\.queueShards) }
}
