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
    /// The largest result (or partial result) an executor may return, as compact JSON bytes; a
    /// larger one fails the task. YAML `max_result_bytes`.
    public var maxResultBytes: Int
    /// Programs the command executor may start: bare names (looked up on the agent's `PATH` when
    /// it starts) or absolute paths. YAML `command_allowlist`.
    public var commandAllowlist: [String]
    /// Names of `inputs.env` variables the command executor passes on (loader variables such as
    /// `PATH` or `LD_PRELOAD` never). YAML `command_env_allow`.
    public var commandEnvAllow: [String]
    /// The working directory of every command. YAML `command_cwd`.
    public var commandCwd: String
    /// Seconds before the REST executor gives up on a call. YAML `rest_timeout_s`.
    public var restTimeoutSeconds: Double
    /// Hosts and address ranges (`10.0.0.0/8`, `fd00::/8`) the REST executor may call although
    /// they are not public. YAML `rest_allow`.
    public var restAllow: [String]
    /// The largest response body the REST executor accepts, in bytes. YAML `rest_max_response_bytes`.
    public var restMaxResponseBytes: Int
    /// The agent applies its own reports and claims what they release (three round trips per
    /// chain step); `false`: reports only go to the bus, for the schedulers. YAML `apply_reports`.
    public var applyReports: Bool

    /// Creates agent tunables; every argument defaults to the value in `config/baton.yaml`.
    public init(
        concurrency: Int = 8,
        heartbeatIntervalSeconds: Double = 2,
        leaseSeconds: Double = 10,
        shutdownGraceSeconds: Double = 10,
        maxResultBytes: Int = 1_048_576,
        commandAllowlist: [String] = ["echo", "true", "false", "sleep", "uname"],
        commandEnvAllow: [String] = [],
        commandCwd: String = "/",
        restTimeoutSeconds: Double = 30,
        restAllow: [String] = [],
        restMaxResponseBytes: Int = 1_048_576,
        applyReports: Bool = true
    ) {
        self.concurrency = concurrency
        self.heartbeatIntervalSeconds = heartbeatIntervalSeconds
        self.leaseSeconds = leaseSeconds
        self.shutdownGraceSeconds = shutdownGraceSeconds
        self.maxResultBytes = maxResultBytes
        self.commandAllowlist = commandAllowlist
        self.commandEnvAllow = commandEnvAllow
        self.commandCwd = commandCwd
        self.restTimeoutSeconds = restTimeoutSeconds
        self.restAllow = restAllow
        self.restMaxResponseBytes = restMaxResponseBytes
        self.applyReports = applyReports
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case concurrency
        case heartbeatIntervalSeconds = "heartbeat_interval_s"
        case leaseSeconds = "lease_s"
        case shutdownGraceSeconds = "shutdown_grace_s"
        case maxResultBytes = "max_result_bytes"
        case commandAllowlist = "command_allowlist"
        case commandEnvAllow = "command_env_allow"
        case commandCwd = "command_cwd"
        case restTimeoutSeconds = "rest_timeout_s"
        case restAllow = "rest_allow"
        case restMaxResponseBytes = "rest_max_response_bytes"
        case applyReports = "apply_reports"
    }

    /// Decodes from YAML or JSON; absent keys keep their defaults, unknown keys are an error.
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = AgentConfig()
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
            try container.decodeIfPresent(T.self, forKey: key) ?? fallback
        }
        concurrency = try value(.concurrency, defaults.concurrency)
        heartbeatIntervalSeconds = try value(.heartbeatIntervalSeconds, defaults.heartbeatIntervalSeconds)
        leaseSeconds = try value(.leaseSeconds, defaults.leaseSeconds)
        shutdownGraceSeconds = try value(.shutdownGraceSeconds, defaults.shutdownGraceSeconds)
        maxResultBytes = try value(.maxResultBytes, defaults.maxResultBytes)
        commandAllowlist = try value(.commandAllowlist, defaults.commandAllowlist)
        commandEnvAllow = try value(.commandEnvAllow, defaults.commandEnvAllow)
        commandCwd = try value(.commandCwd, defaults.commandCwd)
        restTimeoutSeconds = try value(.restTimeoutSeconds, defaults.restTimeoutSeconds)
        restAllow = try value(.restAllow, defaults.restAllow)
        restMaxResponseBytes = try value(.restMaxResponseBytes, defaults.restMaxResponseBytes)
        applyReports = try value(.applyReports, defaults.applyReports)
    }

    /// ``heartbeatIntervalSeconds`` in whole milliseconds.
    public var heartbeatIntervalMillis: Int { millis(heartbeatIntervalSeconds) }
    /// ``leaseSeconds`` in whole milliseconds.
    public var leaseMillis: Int { millis(leaseSeconds) }
    /// ``shutdownGraceSeconds`` in whole milliseconds.
    public var shutdownGraceMillis: Int { millis(shutdownGraceSeconds) }
    /// ``restTimeoutSeconds`` in whole milliseconds.
    public var restTimeoutMillis: Int { millis(restTimeoutSeconds) }

    /// Whole milliseconds of a validated number of seconds (`BatonConfig.validate()` bounds every
    /// time to at most 7 days); a value that was not validated saturates instead of trapping.
    private func millis(_ seconds: Double) -> Int {
        let millis = (seconds * 1000).rounded()
        guard millis.isFinite, millis > 0 else { return 0 }
        return millis < 1e15 ? Int(millis) : 1_000_000_000_000_000
    }
}
