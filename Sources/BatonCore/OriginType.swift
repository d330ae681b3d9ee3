/// How a task came to exist.
public enum OriginType: String, Sendable, Hashable, Codable, CaseIterable {
    /// Submitted directly.
    case create
    /// A copy of another task (new id, reset state, runs again).
    case copy
    /// A link to a completed task: never executed, reads resolve to the original.
    case link
    /// Archived in place: read-only.
    case archive
}
