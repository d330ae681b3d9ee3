import Foundation

extension BatonConfig {
    /// Every environment variable ``load(path:environment:)`` reads as an override, in the
    /// order applied. `BATON_CONFIG` (which file to read) is read separately.
    public static var environmentVariables: [String] { environmentOverrides.map(\.name) }

    /// One `BATON_*` variable and how its text sets a field.
    struct EnvironmentOverride {
        let name: String
        let apply: (inout BatonConfig, String) throws -> Void
    }

    /// The override table: one row per configuration key.
    static var environmentOverrides: [EnvironmentOverride] {
        [
            .string("BATON_REDIS_URL") { $0.redisURL = $1 },
            .string("BATON_NAMESPACE") { $0.namespace = $1 },
            .boolean("BATON_REDIS_ALLOW_EVICTION") { $0.redisAllowEviction = $1 },
            .integer("BATON_AGENT_CONCURRENCY") { $0.agent.concurrency = $1 },
            .seconds("BATON_AGENT_HEARTBEAT_INTERVAL_S") { $0.agent.heartbeatIntervalSeconds = $1 },
            .seconds("BATON_AGENT_LEASE_S") { $0.agent.leaseSeconds = $1 },
            .seconds("BATON_AGENT_SHUTDOWN_GRACE_S") { $0.agent.shutdownGraceSeconds = $1 },
            .integer("BATON_AGENT_MAX_RESULT_BYTES") { $0.agent.maxResultBytes = $1 },
            .list("BATON_AGENT_COMMAND_ALLOWLIST") { $0.agent.commandAllowlist = $1 },
            .list("BATON_AGENT_COMMAND_ENV_ALLOW") { $0.agent.commandEnvAllow = $1 },
            .string("BATON_AGENT_COMMAND_CWD") { $0.agent.commandCwd = $1 },
            .seconds("BATON_AGENT_REST_TIMEOUT_S") { $0.agent.restTimeoutSeconds = $1 },
            .list("BATON_AGENT_REST_ALLOW") { $0.agent.restAllow = $1 },
            .integer("BATON_AGENT_REST_MAX_RESPONSE_BYTES") { $0.agent.restMaxResponseBytes = $1 },
            .boolean("BATON_AGENT_APPLY_REPORTS") { $0.agent.applyReports = $1 },
            .integer("BATON_SCHEDULER_BATCH_SIZE") { $0.scheduler.batchSize = $1 },
            .integer("BATON_SCHEDULER_BLOCK_MS") { $0.scheduler.blockMillis = $1 },
            .integer("BATON_SCHEDULER_REAPER_INTERVAL_MS") { $0.scheduler.reaperIntervalMillis = $1 },
            .integer("BATON_SCHEDULER_EVENTS_MAXLEN") { $0.scheduler.eventsMaxLength = $1 },
            .integer("BATON_SCHEDULER_RECLAIM_IDLE_MS") { $0.scheduler.reclaimIdleMillis = $1 },
            .string("BATON_SCHEDULER_CONSUMER_NAME") { $0.scheduler.consumerName = $1.isEmpty ? nil : $1 },
            .integer("BATON_SCHEDULER_INFLIGHT_REPAIR_MS") { $0.scheduler.inflightRepairMillis = $1 },
            .integer("BATON_SCHEDULER_ORPHAN_SWEEP_MS") { $0.scheduler.orphanSweepMillis = $1 },
            .integer("BATON_RETENTION_FINISHED_S") { $0.retention.finishedSeconds = $1 },
            .integer("BATON_LIMITS_MAX_TASKS_PER_TREE") { $0.limits.maxTasksPerTree = $1 },
            .integer("BATON_LIMITS_MAX_TASKS_PER_READ") { $0.limits.maxTasksPerRead = $1 },
            .integer("BATON_BUS_SHARDS") { $0.bus.shards = $1 },
            .namedIntegers("BATON_EXECUTORS_QUEUE_SHARDS", item: "executor_type=shards") {
                $0.executors[$1, default: ExecutorTypeConfig()].queueShards = $2
            },
            .namedIntegers("BATON_EXECUTORS_MAX_RUNNING", item: "executor_type=limit") {
                $0.executors[$1, default: ExecutorTypeConfig()].maxRunning = $2
            },
            .namedIntegers("BATON_EXECUTORS_MAX_RUNNING_PER_KEY", item: "executor_type=limit") {
                $0.executors[$1, default: ExecutorTypeConfig()].maxRunningPerKey = $2
            },
            .namedIntegers("BATON_FAIRNESS_WEIGHTS", item: "user=weight") { $0.fairness.weights[$1] = $2 },
            .rateLimits("BATON_EXECUTORS_RATE_LIMIT") { $0.executors[$1, default: ExecutorTypeConfig()].rateLimit = $2 },
            .rateLimits("BATON_EXECUTORS_RATE_LIMIT_PER_KEY") { $0.executors[$1, default: ExecutorTypeConfig()].rateLimitPerKey = $2 },
            .string("BATON_GATEWAY_HOST") { $0.gateway.host = $1 },
            .integer("BATON_GATEWAY_PORT") { $0.gateway.port = $1 },
            .apiKeys("BATON_API_KEYS") { $0.gateway.apiKeys = $1 },
            .integer("BATON_GATEWAY_MAX_BODY_BYTES") { $0.gateway.maxBodyBytes = $1 },
            .list("BATON_GATEWAY_KNOWN_EXECUTORS") { $0.gateway.knownExecutors = $1 },
            .seconds("BATON_GATEWAY_HEADER_TIMEOUT_S") { $0.gateway.headerTimeoutSeconds = $1 },
            .seconds("BATON_GATEWAY_IDLE_TIMEOUT_S") { $0.gateway.idleTimeoutSeconds = $1 },
            .integer("BATON_GATEWAY_MAX_REQUEST_LINE_BYTES") { $0.gateway.maxRequestLineBytes = $1 },
            .integer("BATON_GATEWAY_MAX_HEADER_BYTES") { $0.gateway.maxHeaderBytes = $1 },
            .integer("BATON_GATEWAY_MAX_CONNECTIONS") { $0.gateway.maxConnections = $1 },
            .integer("BATON_GATEWAY_STREAM_BUFFER_BYTES") { $0.gateway.streamBufferBytes = $1 },
        ]
    }

    /// `BATON_*` variables Baton reads outside the override table (the file to read, logging,
    /// the CLI's user, metrics, and the test and fault tooling).
    public static let otherVariables: Set<String> = [
        "BATON_CONFIG", "BATON_LOG_LEVEL", "BATON_USER", "BATON_METRICS_PORT", "BATON_METRICS_HOST", "BATON_FAULT", "BATON_BIN_DIR",
        "BATON_E2E_KEEP_LOGS", "BATON_TEST_CHAOS", "BATON_TEST_CLUSTER", "BATON_FUZZ_TARGET", "BATON_FUZZ_SECONDS",
    ]

    /// One warning per `BATON_*` variable of `environment` that Baton does not read, naming the
    /// nearest known one when it looks like a typo. (A warning, not an error: other tools may
    /// share the prefix.)
    public static func unknownVariableWarnings(_ environment: [String: String]) -> [String] {
        let known = Set(environmentVariables).union(otherVariables)
        return environment.keys.filter { $0.hasPrefix("BATON_") && !known.contains($0) }.sorted().map { name in
            let nearest = known.map { ($0, editDistance(name, $0)) }.filter { $0.1 <= 3 }.min { ($0.1, $0.0) < ($1.1, $1.0) }
            return "unknown environment variable \(name) is ignored" + (nearest.map { " (did you mean \($0.0)?)" } ?? "")
        }
    }

    /// Levenshtein distance, for suggestions.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + [Int](repeating: 0, count: b.count)
            for j in stride(from: 1, through: b.count, by: 1) {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return a.isEmpty ? b.count : previous[b.count]
    }

    /// Applies every override present in `environment`.
    mutating func applyEnvironment(_ environment: [String: String]) throws {
        for override in Self.environmentOverrides {
            if let text = environment[override.name] {
                try override.apply(&self, text)
            }
        }
    }
}

extension BatonConfig.EnvironmentOverride {
    static func string(_ name: String, _ set: @escaping (inout BatonConfig, String) -> Void) -> Self {
        Self(name: name) { config, text in set(&config, text.trimmingCharacters(in: .whitespaces)) }
    }

    /// `true`/`1` or `false`/`0`.
    static func boolean(_ name: String, _ set: @escaping (inout BatonConfig, Bool) -> Void) -> Self {
        Self(name: name) { config, text in
            switch text.trimmingCharacters(in: .whitespaces) {
            case "true", "1": set(&config, true)
            case "false", "0": set(&config, false)
            default: throw BatonConfigError.invalidValue(key: name, reason: "must be true or false (got \"\(text)\")")
            }
        }
    }

    static func integer(_ name: String, _ set: @escaping (inout BatonConfig, Int) -> Void) -> Self {
        Self(name: name) { config, text in
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw BatonConfigError.invalidValue(key: name, reason: "must be an integer (got \"\(text)\")")
            }
            set(&config, value)
        }
    }

    static func seconds(_ name: String, _ set: @escaping (inout BatonConfig, Double) -> Void) -> Self {
        Self(name: name) { config, text in
            guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite else {
                throw BatonConfigError.invalidValue(key: name, reason: "must be a number of seconds (got \"\(text)\")")
            }
            set(&config, value)
        }
    }

    /// Comma-separated; spaces around items and empty items are dropped.
    static func list(_ name: String, _ set: @escaping (inout BatonConfig, [String]) -> Void) -> Self {
        Self(name: name) { config, text in set(&config, splitList(text)) }
    }

    /// Comma-separated `key=user[:admin]` items.
    static func apiKeys(_ name: String, _ set: @escaping (inout BatonConfig, [APIKey]) -> Void) -> Self {
        Self(name: name) { config, text in
            let keys = try splitList(text).enumerated().map { index, item in
                guard let key = APIKey(parsing: item) else {
                    throw BatonConfigError.invalidValue(
                        key: name, reason: "item \(index + 1) must be \"key=user\" or \"key=user:admin\"")
                }
                return key
            }
            set(&config, keys)
        }
    }

    /// Comma-separated `name=integer` items, e.g. `executors.<type>.queue_shards` of each type
    /// named (executor type and user names do not fit a variable name, so they are listed in the
    /// value); `item` is the form named in the error.
    static func namedIntegers(_ name: String, item form: String, _ set: @escaping (inout BatonConfig, String, Int) -> Void) -> Self {
        Self(name: name) { config, text in
            for (index, item) in splitList(text).enumerated() {
                guard let equals = item.lastIndex(of: "="), let value = Int(item[item.index(after: equals)...]),
                      equals != item.startIndex
                else {
                    throw BatonConfigError.invalidValue(key: name, reason: "item \(index + 1) must be \"\(form)\" (got \"\(item)\")")
                }
                set(&config, String(item[..<equals]), value)
            }
        }
    }

    /// Comma-separated `executor_type=tasks[/interval_s[/burst]]` items.
    static func rateLimits(_ name: String, _ set: @escaping (inout BatonConfig, String, RateLimitConfig) -> Void) -> Self {
        Self(name: name) { config, text in
            for (index, item) in splitList(text).enumerated() {
                let parts = item.lastIndex(of: "=").map { (String(item[..<$0]), item[item.index(after: $0)...].split(separator: "/")) }
                guard let (type, values) = parts, !type.isEmpty, (1...3).contains(values.count),
                      let tasks = Int(values[0]),
                      let interval = values.count > 1 ? Double(values[1]) : 1,
                      let burst = values.count > 2 ? Int(values[2]) : 1
                else {
                    throw BatonConfigError.invalidValue(
                        key: name, reason: "item \(index + 1) must be \"executor_type=tasks[/interval_s[/burst]]\" (got \"\(item)\")")
                }
                set(&config, type, RateLimitConfig(tasks: tasks, intervalSeconds: interval, burst: burst))
            }
        }
    }

    private static func splitList(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
