import Foundation

/// Tunables of an agent process (from `config/baton.yaml`, `agent:` section, and flags).
///
/// `baton-agent` builds it from a validated `BatonConfig` (every range is
/// checked there, with errors naming the key); the agent only compares and adds these values as
/// whole milliseconds and bytes, so none of them can make it trap.
public struct AgentSettings: Sendable, Hashable {
    /// This agent's id in its record (`GET /v1/agents`); unique per process.
    public var agentID: String
    /// Executor types this agent takes work for.
    public var executorTypes: [String]
    /// Tasks run at once.
    public var concurrency: Int
    /// Lease length; a task whose agent stops heartbeating for this long runs again elsewhere.
    public var leaseMillis: Int
    /// How often leases are extended (well under the lease length).
    public var heartbeatMillis: Int
    /// On SIGTERM: how long running tasks may finish before they are handed back.
    public var shutdownGraceMillis: Int
    /// The largest compact JSON text of a result or partial result (`agent.max_result_bytes`);
    /// a larger one fails the attempt.
    public var maxResultBytes: Int
    /// The agent applies its own reports and claims what they release (`agent.apply_reports`).
    public var appliesReports: Bool

    /// The default of ``maxResultBytes``: 1 MiB.
    public static let defaultMaxResultBytes = 1 << 20

    public init(
        agentID: String = "agent-\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)",
        executorTypes: [String],
        concurrency: Int = 8,
        leaseMillis: Int = 10_000,
        heartbeatMillis: Int = 2_000,
        shutdownGraceMillis: Int = 10_000,
        maxResultBytes: Int = defaultMaxResultBytes,
        appliesReports: Bool = true
    ) {
        self.agentID = agentID
        self.executorTypes = executorTypes
        self.concurrency = max(1, concurrency)
        self.leaseMillis = leaseMillis
        self.heartbeatMillis = heartbeatMillis
        self.shutdownGraceMillis = shutdownGraceMillis
        self.maxResultBytes = maxResultBytes
        self.appliesReports = appliesReports
    }
}
