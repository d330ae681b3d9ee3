/// Tunables of `baton-agent` (YAML section `agent`). Times are in seconds and may be fractional.
public struct AgentConfig: Sendable, Codable, Equatable {
    /// Tasks one agent process runs at the same time. YAML `concurrency`.
    public var concurrency: Int
    /// Seconds between lease renewals of a running task. YAML `heartbeat_interval_s`.
    public var heartbeatIntervalSeconds: Double
    /// Seconds a claimed task stays leased without a heartbeat. YAML `lease_s`.
    public var leaseSeconds: Double
    /// Seconds a stopping agent lets running tasks finish before handing them back. YAML `shutdown_grace_s`.
    public var shutdownGraceSeconds: Double
    /// Programs the command executor may start. YAML `command_allowlist`.
    public var commandAllowlist: [String]
    /// Seconds before the REST executor gives up on a call. YAML `rest_timeout_s`.
    public var restTimeoutSeconds: Double

    /// Creates agent tunables; every argument defaults to the value in `config/baton.yaml`.
    public init(
        concurrency: Int = 8,
        heartbeatIntervalSeconds: Double = 2,
        leaseSeconds: Double = 10,
        shutdownGraceSeconds: Double = 10,
        commandAllowlist: [String] = ["echo", "true", "false", "sleep", "uname", "date"],
        restTimeoutSeconds: Double = 30
    ) {
        self.concurrency = concurrency
        self.heartbeatIntervalSeconds = heartbeatIntervalSeconds
        self.leaseSeconds = leaseSeconds
        self.shutdownGraceSeconds = shutdownGraceSeconds
        self.commandAllowlist = commandAllowlist
        self.restTimeoutSeconds = restTimeoutSeconds
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case concurrency
        case heartbeatIntervalSeconds = "heartbeat_interval_s"
        case leaseSeconds = "lease_s"
        case shutdownGraceSeconds = "shutdown_grace_s"
        case commandAllowlist = "command_allowlist"
        case restTimeoutSeconds = "rest_timeout_s"
    }

    /// Decodes from YAML or JSON; absent keys keep their defaults, unknown keys are an error.
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = AgentConfig()
        concurrency = try container.decodeIfPresent(Int.self, forKey: .concurrency) ?? defaults.concurrency
        heartbeatIntervalSeconds =
            try container.decodeIfPresent(Double.self, forKey: .heartbeatIntervalSeconds)
            ?? defaults.heartbeatIntervalSeconds
        leaseSeconds = try container.decodeIfPresent(Double.self, forKey: .leaseSeconds) ?? defaults.leaseSeconds
        shutdownGraceSeconds =
            try container.decodeIfPresent(Double.self, forKey: .shutdownGraceSeconds) ?? defaults.shutdownGraceSeconds
        commandAllowlist =
            try container.decodeIfPresent([String].self, forKey: .commandAllowlist) ?? defaults.commandAllowlist
        restTimeoutSeconds =
            try container.decodeIfPresent(Double.self, forKey: .restTimeoutSeconds) ?? defaults.restTimeoutSeconds
    }

    /// ``heartbeatIntervalSeconds`` in whole milliseconds.
    public var heartbeatIntervalMillis: Int { millis(heartbeatIntervalSeconds) }
    /// ``leaseSeconds`` in whole milliseconds.
    public var leaseMillis: Int { millis(leaseSeconds) }
    /// ``shutdownGraceSeconds`` in whole milliseconds.
    public var shutdownGraceMillis: Int { millis(shutdownGraceSeconds) }
    /// ``restTimeoutSeconds`` in whole milliseconds.
    public var restTimeoutMillis: Int { millis(restTimeoutSeconds) }

    private func millis(_ seconds: Double) -> Int { Int((seconds * 1000).rounded()) }
}
