/// Bounds on what one request may make Baton store (YAML section `limits`).
public struct LimitsConfig: Sendable, Codable, Equatable {
    /// The most tasks one tree may hold: a submission, copy or link beyond it is refused
    /// (`payload_too_large` naming `tasks`), and so is a task added to a tree that holds as many.
    /// YAML `max_tasks_per_tree`.
    public var maxTasksPerTree: Int
    /// The most tasks one read of a whole tree returns (`GET /v1/trees/{id}`, `baton tree`): a
    /// bigger tree is `payload_too_large` naming `tree_id`, to be paged through with
    /// `GET /v1/tasks?tree_id=…` (one answer of a million tasks would be about a gigabyte of JSON).
    /// YAML `max_tasks_per_read`.
    public var maxTasksPerRead: Int

    /// The highest bound a deployment may set.
    public static let maxTasksPerTreeCeiling = 10_000_000

    /// Creates limits; the default allows trees of 1,000,000 tasks, read whole up to 200,000.
    public init(maxTasksPerTree: Int = 1_000_000, maxTasksPerRead: Int = 200_000) {
        self.maxTasksPerTree = maxTasksPerTree
        self.maxTasksPerRead = maxTasksPerRead
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxTasksPerTree = "max_tasks_per_tree"
        case maxTasksPerRead = "max_tasks_per_read"
    }

    /// Decodes from YAML or JSON; absent keys keep their defaults, unknown keys are an error.
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        maxTasksPerTree = try container.decodeIfPresent(Int.self, forKey: .maxTasksPerTree) ?? LimitsConfig().maxTasksPerTree
        maxTasksPerRead = try container.decodeIfPresent(Int.self, forKey: .maxTasksPerRead) ?? LimitsConfig().maxTasksPerRead
    }
}
