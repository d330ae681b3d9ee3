/// A dependency of a task on another task, by id.
///
/// A **required** dependency must be `completed` before the dependent runs; an **optional** one
/// must only have reached a terminal status. JSON form: `{"id": "...", "required": true}`.
public struct Dependency: Sendable, Hashable, Codable {
    /// The id of the task depended on (in any tree of the same user).
    public var id: String
    /// Whether the dependency must complete successfully.
    public var required: Bool

    /// Creates a dependency; required unless told otherwise.
    public init(id: String, required: Bool = true) {
        self.id = id
        self.required = required
    }

    private enum CodingKeys: String, CodingKey {
        case id, required
    }

    /// Decodes `{"id": "...", "required": bool?}`; a missing `required` means `true`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        required = try container.decodeIfPresent(Bool.self, forKey: .required) ?? true
    }

    /// The dependency as a JSON object `{"id", "required"}`.
    public var jsonValue: JSONValue {
        .object(["id": .string(id), "required": .bool(required)])
    }
}
