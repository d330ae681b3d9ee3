/// The pause between retries of a loop that talks to Redis (a scheduler's bus round, an agent's
/// claim, a report): 50 ms doubling to 2 s, back to 50 ms after a success.
public struct RetryBackoff: Sendable {
    private var delay: Duration = .milliseconds(50)

    public init() {}

    /// After a success.
    public mutating func reset() { delay = .milliseconds(50) }

    /// Sleeps the current delay and doubles it. Throws only when the task is cancelled.
    public mutating func wait() async throws {
        try await Task.sleep(for: delay)
        delay = min(delay * 2, .seconds(2))
    }
}
