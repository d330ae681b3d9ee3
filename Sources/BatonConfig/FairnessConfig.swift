/// How the queues share ready work between users (YAML section `fairness`).
///
/// Within one priority, an executor type's ready tasks are claimed round-robin across the users
/// who have some queued, each user's share in proportion to its weight (default 1): a user with
/// a deep backlog does not hold up another user's task by more than one claim round. Strict
/// priority comes first.
public struct FairnessConfig: Sendable, Codable, Equatable {
    /// Weight per user id (YAML `weights`, e.g. `{alice: 3, bob: 2}`); 1 to 1000, users left out weigh 1.
    public var weights: [String: Int]

    /// The highest weight.
    public static let maxWeight = 1000

    /// Creates the fairness settings; every user weighs 1 by default.
    public init(weights: [String: Int] = [:]) {
        self.weights = weights
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case weights
    }

    /// Decodes from YAML or JSON; absent keys keep their defaults, unknown keys are an error.
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        weights = try container.decodeIfPresent([String: Int].self, forKey: .weights) ?? [:]
    }
}
