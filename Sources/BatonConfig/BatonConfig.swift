import Foundation
import Yams

/// Configuration shared by every Baton executable: where Redis is, the key prefix, and the
/// tunables of agents, schedulers and the gateway.
///
/// Mirrors `config/baton.yaml` (snake_case keys). Every field has a default, so a missing file
/// or a missing key gives the default. Build one with ``load(path:environment:)``.
public struct BatonConfig: Sendable, Codable, Equatable {
    /// The Redis every service talks to, e.g. `redis://127.0.0.1:6379/0`. YAML key `redis_url`.
    public var redisURL: String
    /// Prefix of every Redis key Baton writes. YAML key `namespace`.
    public var namespace: String
    /// Start even when Redis may evict keys (`maxmemory-policy` other than `noeviction`), which
    /// deletes task data silently. YAML key `redis_allow_eviction`.
    public var redisAllowEviction = false
    /// Agent tunables (YAML section `agent`).
    public var agent: AgentConfig
    /// Scheduler tunables (YAML section `scheduler`).
    public var scheduler: SchedulerConfig
    /// Gateway tunables (YAML section `gateway`).
    public var gateway: GatewayConfig
    /// Retention (YAML section `retention`).
    public var retention = RetentionConfig()
    /// Bounds on what a request may store (YAML section `limits`).
    public var limits = LimitsConfig()
    /// The agents' report bus (YAML section `bus`).
    public var bus = BusConfig()
    /// Settings per executor type (YAML section `executors`: type name → settings).
    public var executors: [String: ExecutorTypeConfig] = [:]

    /// How ready work is shared between users (YAML section `fairness`).
    public var fairness = FairnessConfig()

    /// Creates a configuration; every argument defaults to the value in `config/baton.yaml`.
    public init(
        redisURL: String = "redis://127.0.0.1:6379/0",
        namespace: String = "baton",
        agent: AgentConfig = AgentConfig(),
        scheduler: SchedulerConfig = SchedulerConfig(),
        gateway: GatewayConfig = GatewayConfig()
    ) {
        self.redisURL = redisURL
        self.namespace = namespace
        self.agent = agent
        self.scheduler = scheduler
        self.gateway = gateway
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case redisURL = "redis_url"
        case redisAllowEviction = "redis_allow_eviction"
        case namespace, agent, scheduler, gateway, retention, limits, bus, executors, fairness
    }

    /// Decodes from YAML or JSON; absent keys keep their defaults, unknown keys are an error.
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = BatonConfig()
        redisURL = try container.decodeIfPresent(String.self, forKey: .redisURL) ?? defaults.redisURL
        namespace = try container.decodeIfPresent(String.self, forKey: .namespace) ?? defaults.namespace
        redisAllowEviction =
            try container.decodeIfPresent(Bool.self, forKey: .redisAllowEviction) ?? defaults.redisAllowEviction
        agent = try container.decodeIfPresent(AgentConfig.self, forKey: .agent) ?? defaults.agent
        scheduler = try container.decodeIfPresent(SchedulerConfig.self, forKey: .scheduler) ?? defaults.scheduler
        gateway = try container.decodeIfPresent(GatewayConfig.self, forKey: .gateway) ?? defaults.gateway
        retention = try container.decodeIfPresent(RetentionConfig.self, forKey: .retention) ?? defaults.retention
        limits = try container.decodeIfPresent(LimitsConfig.self, forKey: .limits) ?? defaults.limits
        bus = try container.decodeIfPresent(BusConfig.self, forKey: .bus) ?? defaults.bus
        executors = try container.decodeIfPresent([String: ExecutorTypeConfig].self, forKey: .executors) ?? defaults.executors
        fairness = try container.decodeIfPresent(FairnessConfig.self, forKey: .fairness) ?? defaults.fairness
    }
}

extension BatonConfig {
    /// The file read when neither a path nor `BATON_CONFIG` is given, relative to the working directory.
    public static let defaultPath = "config/baton.yaml"

    /// Loads the configuration: a YAML file, then `BATON_*` environment overrides, then validation.
    ///
    /// The file is `path` if given, else `$BATON_CONFIG` if set, else `config/baton.yaml` if it
    /// exists in the working directory, else none (defaults only). A file named explicitly must exist.
    /// Each key can be overridden by `BATON_` + its upper-cased path joined by `_`
    /// (`BATON_AGENT_CONCURRENCY`); lists are comma-separated; `gateway.api_keys` is `BATON_API_KEYS`.
    /// See ``environmentVariables`` for the full list.
    ///
    /// - Throws: ``BatonConfigError`` naming the file, key or variable at fault.
    public static func load(
        path: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> BatonConfig {
        var config = BatonConfig()
        if let file = try configFile(path: path, environment: environment) {
            config = try decodeFile(at: file)
        }
        try config.applyEnvironment(environment)
        try config.validate()
        return config
    }

    /// Which file `load` reads, or nil for defaults only.
    static func configFile(path: String?, environment: [String: String]) throws -> String? {
        let named = path ?? environment["BATON_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        if let named {
            guard FileManager.default.fileExists(atPath: named) else {
                throw BatonConfigError.fileNotFound(path: named)
            }
            return named
        }
        return FileManager.default.fileExists(atPath: defaultPath) ? defaultPath : nil
    }

    /// Decodes one YAML file; an empty file (or one of comments only) gives the defaults.
    static func decodeFile(at path: String) throws -> BatonConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw BatonConfigError.unreadableFile(path: path, reason: "\(error)")
        }
        do {
            guard let node = try Yams.compose(yaml: text) else { return BatonConfig() }
            return try YAMLDecoder().decode(BatonConfig.self, from: node)
        } catch let error as DecodingError {
            throw BatonConfigError.invalidFile(path: path, reason: describe(error))
        } catch {
            throw BatonConfigError.invalidFile(path: path, reason: "\(error)")
        }
    }

    /// `agent.concurrency: expected an integer` from a decoding error.
    private static func describe(_ error: DecodingError) -> String {
        let path: [any CodingKey]
        let reason: String
        switch error {
        case .typeMismatch(let type, let context):
            path = context.codingPath
            reason =
                type == Int.self ? "expected an integer"
                : type == Double.self ? "expected a number"
                : "expected \(type) (\(context.debugDescription))"
        case .valueNotFound(_, let context), .dataCorrupted(let context):
            path = context.codingPath
            reason = context.debugDescription
        case .keyNotFound(let key, let context):
            path = context.codingPath + [key]
            reason = context.debugDescription
        @unknown default:
            return "\(error)"
        }
        let keyPath = path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            .joined(separator: ".")
            .replacingOccurrences(of: ".[", with: "[")
        return keyPath.isEmpty ? reason : "\(keyPath): \(reason)"
    }
}
