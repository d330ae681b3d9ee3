/// Settings of one executor type (YAML `executors.<type>`).
public struct ExecutorTypeConfig: Sendable, Codable, Equatable {
    /// How many queue shards the type's ready tasks are spread over (on Redis Cluster they spread
    /// over the masters). A task always goes to the same shard (CRC16 of its tree and task id);
    /// priority order is strict within a shard, not across shards (`docs/PROTOCOL.md`, "Queue
    /// shards"). Every service of a namespace must use the same number. YAML `queue_shards`.
    public var queueShards: Int

    /// The most shards a queue may have.
    public static let maxQueueShards = 256

    /// Creates the settings of an executor type; one queue shard by default.
    public init(queueShards: Int = 1) {
        self.queueShards = queueShards
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case queueShards = "queue_shards"
    }

    /// Decodes from YAML or JSON; absent keys keep their defaults, unknown keys are an error.
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        queueShards = try container.decodeIfPresent(Int.self, forKey: .queueShards) ?? ExecutorTypeConfig().queueShards
    }
}

extension BatonConfig {
    /// The queue shard count of every executor type configured with one (`executors.<type>.queue_shards`).
    public var queueShards: [String: Int] { executors.mapValues(\.queueShards) }
}
