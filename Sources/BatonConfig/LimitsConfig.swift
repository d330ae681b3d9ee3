/// Bounds on what one request may make Baton store (YAML section `limits`).
public struct LimitsConfig: Sendable, Codable, Equatable {
    /// The most tasks one tree may hold: a submission, copy or link beyond it is refused
    /// (`payload_too_large` naming `tasks`), and so is a task added to a tree that holds as many.
    /// YAML `max_tasks_per_tree`.
    public var maxTasksPerTree: Int

    /// The highest bound a deployment may set.
    public static let maxTasksPerTreeCeiling = 10_000_000

    /// Creates limits; the default allows trees of 1,000,000 tasks.
    public init(maxTasksPerTree: Int = 1_000_000) {
        self.maxTasksPerTree = maxTasksPerTree
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxTasksPerTree = "max_tasks_per_tree"
    }

    /// Decodes from YAML or JSON; absent keys keep their defaults, unknown keys are an error.
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        maxTasksPerTree = try container.decodeIfPresent(Int.self, forKey: .maxTasksPerTree) ?? LimitsConfig().maxTasksPerTree
    }
}
