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

    /// The default ``executorPolicy``: every executor type for everyone, the privileged ones for admins.
    public static let defaultExecutorPolicy: [String: [String]] = ["*": ["*"], "admin": ["*"]]

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
    }

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
    }
}
