/// The lifecycle status of a task.
public enum TaskStatus: String, Sendable, Hashable, Codable, CaseIterable {
    /// Waiting for its dependencies or for an agent.
    case pending
    /// Claimed by an agent and running.
    case inProgress = "in_progress"
    /// Finished successfully.
    case completed
    /// Finished with an error.
    case failed
    /// Stopped by a cancellation.
    case cancelled

    /// Whether the status is final: `completed`, `failed` or `cancelled`.
    public var isTerminal: Bool {
        switch self {
        case .completed, .failed, .cancelled: true
        case .pending, .inProgress: false
        }
    }
}
