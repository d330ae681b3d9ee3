/// The bus the agents report on (YAML section `bus`).
public struct BusConfig: Sendable, Codable, Equatable {
    /// How many report streams the bus has. A tree's reports always go to the same one (so their
    /// order is kept); on Redis Cluster the streams spread over the masters. Every service of a
    /// namespace must use the same number: the first to start records it in Redis, and a service
    /// configured otherwise refuses to start. YAML `shards`.
    public var shards: Int

    /// The most shards a bus may have.
    public static let maxShards = 1024

    /// Creates bus settings; 16 shards by default.
    public init(shards: Int = 16) {
        self.shards = shards
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case shards
    }

    /// Decodes from YAML or JSON; absent keys keep their defaults, unknown keys are an error.
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        shards = try container.decodeIfPresent(Int.self, forKey: .shards) ?? BusConfig().shards
    }
}
