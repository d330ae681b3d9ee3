/// Tunables of `baton-gateway` (YAML section `gateway`).
public struct GatewayConfig: Sendable, Codable, Equatable {
    /// Address the HTTP API listens on. YAML `host`.
    public var host: String
    /// Port the HTTP API listens on (0 picks a free one). YAML `port`.
    public var port: Int
    /// Accepted API keys and the users they stand for. YAML `api_keys`, items `key=user[:admin]`.
    public var apiKeys: [APIKey]
    /// Largest request body accepted, in bytes. YAML `max_body_bytes`.
    public var maxBodyBytes: Int
    /// Who may submit which executor types: subject (a user id, `admin` or `*`) → executor types
    /// (`*` for all; for non-admins it leaves out `command_executor` and `rest_executor`, which must
    /// be named). YAML `executor_policy`; see `ExecutorPolicy` in BatonCore.
    public var executorPolicy: [String: [String]] = GatewayConfig.defaultExecutorPolicy
    /// The executor types this deployment runs; a task naming another one is refused at
    /// submission (every entry point: the gateway, Redis-native submissions, the CLI). Empty:
    /// any type is accepted, and one no agent has ever served gets a warning. YAML `known_executors`.
    public var knownExecutors: [String] = []

    /// The default ``executorPolicy``: every executor type for everyone, the privileged ones for admins.
    public static let defaultExecutorPolicy: [String: [String]] = ["*": ["*"], "admin": ["*"]]

    /// Seconds a connection may take to send a complete request head, counted from the connection
    /// or from the first byte after a response (answered 408 and closed beyond). YAML `header_timeout_s`.
    public var headerTimeoutSeconds: Double = 10
    /// Seconds a keep-alive connection may stay idle between requests, or stall while sending a
    /// body, before it is closed. YAML `idle_timeout_s`.
    public var idleTimeoutSeconds: Double = 60
    /// Longest request line (`GET /path HTTP/1.1`), in bytes (414 beyond). YAML `max_request_line_bytes`.
    public var maxRequestLineBytes: Int = 8192
    /// Largest header section after the request line, in bytes (431 beyond). YAML `max_header_bytes`.
    public var maxHeaderBytes: Int = 16384
    /// Open connections at most; one more is answered 503 and closed. YAML `max_connections`.
    public var maxConnections: Int = 1024
    /// Bytes of events a streaming client (SSE or WebSocket) may have queued but not yet taken
    /// before it is disconnected as too slow (it resumes with its last event id). YAML `stream_buffer_bytes`.
    public var streamBufferBytes: Int = 1_048_576

    /// Creates gateway tunables; every argument defaults to the value in `config/baton.yaml`.
    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        apiKeys: [APIKey] = [APIKey(key: "dev-key", userID: "dev", isAdmin: true)],
        maxBodyBytes: Int = 10_485_760
    ) {
        self.host = host
        self.port = port
        self.apiKeys = apiKeys
        self.maxBodyBytes = maxBodyBytes
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case host, port
        case apiKeys = "api_keys"
        case maxBodyBytes = "max_body_bytes"
        case executorPolicy = "executor_policy"
        case knownExecutors = "known_executors"
        case headerTimeoutSeconds = "header_timeout_s"
        case idleTimeoutSeconds = "idle_timeout_s"
        case maxRequestLineBytes = "max_request_line_bytes"
        case maxHeaderBytes = "max_header_bytes"
        case maxConnections = "max_connections"
        case streamBufferBytes = "stream_buffer_bytes"
    }

    /// ``knownExecutors`` as a validator's set (`nil` when every type is accepted).
    public var knownExecutorSet: Set<String>? { knownExecutors.isEmpty ? nil : Set(knownExecutors) }

    /// Decodes from YAML or JSON; absent keys keep their defaults, unknown keys are an error.
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = GatewayConfig()
        host = try container.decodeIfPresent(String.self, forKey: .host) ?? defaults.host
        port = try container.decodeIfPresent(Int.self, forKey: .port) ?? defaults.port
        apiKeys = try container.decodeIfPresent([APIKey].self, forKey: .apiKeys) ?? defaults.apiKeys
        maxBodyBytes = try container.decodeIfPresent(Int.self, forKey: .maxBodyBytes) ?? defaults.maxBodyBytes
        executorPolicy =
            try container.decodeIfPresent([String: [String]].self, forKey: .executorPolicy) ?? defaults.executorPolicy
        knownExecutors = try container.decodeIfPresent([String].self, forKey: .knownExecutors) ?? defaults.knownExecutors
        headerTimeoutSeconds =
            try container.decodeIfPresent(Double.self, forKey: .headerTimeoutSeconds) ?? defaults.headerTimeoutSeconds
        idleTimeoutSeconds =
            try container.decodeIfPresent(Double.self, forKey: .idleTimeoutSeconds) ?? defaults.idleTimeoutSeconds
        maxRequestLineBytes =
            try container.decodeIfPresent(Int.self, forKey: .maxRequestLineBytes) ?? defaults.maxRequestLineBytes
        maxHeaderBytes = try container.decodeIfPresent(Int.self, forKey: .maxHeaderBytes) ?? defaults.maxHeaderBytes
        maxConnections = try container.decodeIfPresent(Int.self, forKey: .maxConnections) ?? defaults.maxConnections
        streamBufferBytes =
            try container.decodeIfPresent(Int.self, forKey: .streamBufferBytes) ?? defaults.streamBufferBytes
    }
}
