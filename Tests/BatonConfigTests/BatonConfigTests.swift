import Foundation
import Testing

@testable import BatonConfig

/// Writes `text` to a new temporary file and returns its path.
private func temporaryFile(_ text: String) throws -> String {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("baton-config-\(UUID().uuidString).yaml")
    try text.write(to: url, atomically: true, encoding: .utf8)
    return url.path
}

/// The repository's `config/baton.yaml`, found from this file's location.
private let shippedConfigPath = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("config/baton.yaml").path

@Suite struct BatonConfigTests {
    @Test func defaultsFromAnEmptyFile() throws {
        let config = try BatonConfig.load(path: try temporaryFile("# nothing but a comment\n"), environment: [:])
        #expect(config == BatonConfig())
        #expect(config.redisURL == "redis://127.0.0.1:6379/0")
        #expect(config.namespace == "baton")
        #expect(config.agent.concurrency == 8)
        #expect(config.agent.leaseMillis == 10_000)
        #expect(config.agent.commandAllowlist == ["echo", "true", "false", "sleep", "uname"], "no program that reads files (date -f)")
        #expect(config.agent.maxResultBytes == 1_048_576)
        #expect(config.agent.commandEnvAllow.isEmpty)
        #expect(config.agent.commandCwd == "/")
        #expect(config.agent.restAllow.isEmpty)
        #expect(config.agent.restMaxResponseBytes == 1_048_576)
        #expect(config.agent.applyReports)
        #expect(config.scheduler.eventsMaxLength == 10_000)
        #expect(config.gateway.port == 8080)
        #expect(config.gateway.apiKeys == [APIKey(key: "dev-key", userID: "dev", isAdmin: true)])
        #expect(config.gateway.maxBodyBytes == 10_485_760)
    }

    @Test func shippedFileSpellsOutTheDefaults() throws {
        #expect(try BatonConfig.load(path: shippedConfigPath, environment: [:]) == BatonConfig())
    }

    @Test func yamlOverridesOnlyTheKeysItHas() throws {
        let path = try temporaryFile(
            """
            namespace: prod
            agent:
              concurrency: 3
              heartbeat_interval_s: 0.5
              command_allowlist: [echo, true]
            gateway:
              port: 9090
              api_keys: ["k1=alice", "k2=bob:admin"]
            """)
        let config = try BatonConfig.load(path: path, environment: [:])
        #expect(config.namespace == "prod")
        #expect(config.agent.concurrency == 3)
        #expect(config.agent.heartbeatIntervalMillis == 500)
        #expect(config.agent.commandAllowlist == ["echo", "true"])
        #expect(config.agent.leaseSeconds == 10)
        #expect(config.gateway.port == 9090)
        #expect(config.gateway.host == "127.0.0.1")
        #expect(
            config.gateway.apiKeys == [
                APIKey(key: "k1", userID: "alice"), APIKey(key: "k2", userID: "bob", isAdmin: true),
            ])
        #expect(config.scheduler == SchedulerConfig())
        #expect(config.redisURL == BatonConfig().redisURL)
    }

    @Test func environmentOverridesTheFile() throws {
        let path = try temporaryFile("agent:\n  concurrency: 3\ngateway:\n  port: 9090\n")
        let config = try BatonConfig.load(
            path: path,
            environment: [
                "BATON_REDIS_URL": "redis://127.0.0.1:7000/2",
                "BATON_NAMESPACE": "ci",
                "BATON_AGENT_CONCURRENCY": "16",
                "BATON_AGENT_LEASE_S": "2.5",
                "BATON_AGENT_COMMAND_ALLOWLIST": "echo, sleep,,",
                "BATON_SCHEDULER_BATCH_SIZE": "50",
                "BATON_GATEWAY_PORT": "0",
                "BATON_API_KEYS": "a=alice, b=bob:admin",
                "UNRELATED": "ignored",
            ])
        #expect(config.redisURL == "redis://127.0.0.1:7000/2")
        #expect(config.namespace == "ci")
        #expect(config.agent.concurrency == 16)
        #expect(config.agent.leaseMillis == 2500)
        #expect(config.agent.commandAllowlist == ["echo", "sleep"])
        #expect(config.scheduler.batchSize == 50)
        #expect(config.gateway.port == 0)
        #expect(
            config.gateway.apiKeys == [
                APIKey(key: "a", userID: "alice"), APIKey(key: "b", userID: "bob", isAdmin: true),
            ])
    }

    @Test func treeSizeLimitFromTheFileAndTheEnvironment() throws {
        #expect(try BatonConfig.load(path: try temporaryFile("")).limits.maxTasksPerTree == 1_000_000)
        #expect(try BatonConfig.load(path: try temporaryFile("")).limits.maxTasksPerRead == 200_000)
        let reads = try BatonConfig.load(path: try temporaryFile("limits:\n  max_tasks_per_read: 10\n"),
                                         environment: ["BATON_LIMITS_MAX_TASKS_PER_READ": "30"])
        #expect(reads.limits.maxTasksPerRead == 30)
        let path = try temporaryFile("limits:\n  max_tasks_per_tree: 5000\n")
        #expect(try BatonConfig.load(path: path, environment: [:]).limits.maxTasksPerTree == 5000)
        let overridden = try BatonConfig.load(path: path, environment: ["BATON_LIMITS_MAX_TASKS_PER_TREE": "20"])
        #expect(overridden.limits.maxTasksPerTree == 20)
        let unknown = #expect(throws: (any Error).self) { try BatonConfig.load(path: try temporaryFile("limits:\n  max_tasks: 5\n")) }
        #expect("\(String(describing: unknown))".contains("max_tasks"), "\(String(describing: unknown))")
    }

    @Test func admissionFromTheFileAndTheEnvironment() throws {
        let path = try temporaryFile(
            """
            executors:
              render:
                max_running: 5
                max_running_per_key: 2
            fairness:
              weights: {alice: 3, bob: 2}
            """)
        let fromFile = try BatonConfig.load(path: path, environment: [:])
        #expect(fromFile.executors["render"] == ExecutorTypeConfig(maxRunning: 5, maxRunningPerKey: 2))
        #expect(fromFile.fairness.weights == ["alice": 3, "bob": 2])
        let overridden = try BatonConfig.load(path: path, environment: [
            "BATON_EXECUTORS_MAX_RUNNING": "render=7,echo_executor=1", "BATON_EXECUTORS_MAX_RUNNING_PER_KEY": "render=3",
            "BATON_FAIRNESS_WEIGHTS": "carol=4",
        ])
        #expect(overridden.executors["render"] == ExecutorTypeConfig(maxRunning: 7, maxRunningPerKey: 3))
        #expect(overridden.executors["echo_executor"]?.maxRunning == 1)
        #expect(overridden.fairness.weights == ["alice": 3, "bob": 2, "carol": 4])
        let rates = try BatonConfig.load(path: try temporaryFile("executors:\n  render:\n    rate_limit: {tasks: 50, burst: 5}\n"), environment: [
            "BATON_EXECUTORS_RATE_LIMIT_PER_KEY": "render=10/60/2",
        ])
        #expect(rates.executors["render"]?.rateLimit == RateLimitConfig(tasks: 50, intervalSeconds: 1, burst: 5))
        #expect(rates.executors["render"]?.rateLimitPerKey == RateLimitConfig(tasks: 10, intervalSeconds: 60, burst: 2))
        // Refused, naming the key: a limit out of range, a limit on a sharded queue, a bad weight.
        for (yaml, key) in [
            ("executors:\n  render:\n    max_running: 0\n", "executors.render.max_running"),
            ("executors:\n  render:\n    queue_shards: 2\n    max_running_per_key: 1\n", "limits need queue_shards: 1"),
            ("executors:\n  render:\n    rate_limit: {tasks: 0}\n", "executors.render.rate_limit.tasks"),
            ("executors:\n  render:\n    rate_limit_per_key: {tasks: 5, interval_s: 0}\n", "executors.render.rate_limit_per_key.interval_s"),
            ("executors:\n  render:\n    rate_limit: {tasks: 5, per: 1}\n", "per"),
            ("fairness:\n  weights: {alice: 0}\n", "fairness.weights.alice"),
            ("fairness:\n  weights: {alice: 1001}\n", "fairness.weights.alice"),
            ("fairness:\n  wieghts: {alice: 1}\n", "wieghts"),
        ] {
            let error = #expect(throws: (any Error).self) { try BatonConfig.load(path: try temporaryFile(yaml)) }
            #expect("\(String(describing: error))".contains(key), "\(yaml): \(String(describing: error))")
        }
    }

    @Test func agentHardeningKeysFromTheFileAndTheEnvironment() throws {
        let path = try temporaryFile(
            """
            agent:
              max_result_bytes: 2048
              command_env_allow: [TZ, APP_MODE]
              command_cwd: /tmp
              rest_allow: [api.internal, 10.1.0.0/16]
              rest_max_response_bytes: 4096
            """)
        let fromFile = try BatonConfig.load(path: path, environment: [:])
        #expect(fromFile.agent.maxResultBytes == 2048)
        #expect(fromFile.agent.commandEnvAllow == ["TZ", "APP_MODE"])
        #expect(fromFile.agent.commandCwd == "/tmp")
        #expect(fromFile.agent.restAllow == ["api.internal", "10.1.0.0/16"])
        #expect(fromFile.agent.restMaxResponseBytes == 4096)

        let fromEnvironment = try BatonConfig.load(path: path, environment: [
            "BATON_AGENT_MAX_RESULT_BYTES": "65536",
            "BATON_AGENT_COMMAND_ENV_ALLOW": "TZ",
            "BATON_AGENT_COMMAND_CWD": "/var",
            "BATON_AGENT_REST_ALLOW": "127.0.0.1, fd00::/8",
            "BATON_AGENT_REST_MAX_RESPONSE_BYTES": "1",
            "BATON_AGENT_APPLY_REPORTS": "false",
        ])
        #expect(fromEnvironment.agent.maxResultBytes == 65536)
        #expect(fromEnvironment.agent.commandEnvAllow == ["TZ"])
        #expect(fromEnvironment.agent.commandCwd == "/var")
        #expect(fromEnvironment.agent.restAllow == ["127.0.0.1", "fd00::/8"])
        #expect(fromEnvironment.agent.restMaxResponseBytes == 1)
        #expect(fromEnvironment.agent.applyReports == false)
    }

    @Test func batonConfigVariableNamesTheFile() throws {
        let path = try temporaryFile("namespace: from-env-file\n")
        let config = try BatonConfig.load(path: nil, environment: ["BATON_CONFIG": path])
        #expect(config.namespace == "from-env-file")
    }

    @Test func everyVariableIsListedOnce() {
        let names = BatonConfig.environmentVariables
        #expect(names.filter { $0.hasPrefix("BATON_AGENT_") }.count == 12, "one per agent key")
        #expect(Set(names).count == names.count)
        #expect(names.allSatisfy { $0.hasPrefix("BATON_") })
    }

    @Test(arguments: [
        ("BATON_AGENT_CONCURRENCY", "many", "BATON_AGENT_CONCURRENCY must be an integer (got \"many\")"),
        ("BATON_GATEWAY_PORT", "80.5", "BATON_GATEWAY_PORT must be an integer"),
        ("BATON_AGENT_LEASE_S", "ten", "BATON_AGENT_LEASE_S must be a number of seconds"),
        ("BATON_API_KEYS", "good=alice,bad", "BATON_API_KEYS item 2 must be"),
        ("BATON_GATEWAY_PORT", "70000", "gateway.port must be between 0 and 65535"),
        ("BATON_AGENT_CONCURRENCY", "0", "agent.concurrency must be at least 1"),
        ("BATON_AGENT_LEASE_S", "1", "agent.lease_s must be greater than agent.heartbeat_interval_s"),
        ("BATON_REDIS_URL", "localhost:6379", "redis_url must start with redis://"),
        ("BATON_AGENT_CONCURRENCY", "1000000", "agent.concurrency must be at most 10000"),
        ("BATON_AGENT_LEASE_S", "1e300", "agent.lease_s must be at most 86400 seconds"),
        ("BATON_AGENT_HEARTBEAT_INTERVAL_S", "1e300", "agent.heartbeat_interval_s must be at most 3600 seconds"),
        ("BATON_AGENT_SHUTDOWN_GRACE_S", "1e300", "agent.shutdown_grace_s must be at most 86400 seconds"),
        ("BATON_AGENT_SHUTDOWN_GRACE_S", "-1", "agent.shutdown_grace_s must be 0 or more seconds"),
        ("BATON_AGENT_REST_TIMEOUT_S", "1e300", "agent.rest_timeout_s must be at most 604800 seconds"),
        ("BATON_AGENT_REST_TIMEOUT_S", "inf", "BATON_AGENT_REST_TIMEOUT_S must be a number of seconds"),
        ("BATON_AGENT_MAX_RESULT_BYTES", "0", "agent.max_result_bytes must be between 1 and 536870912 bytes"),
        ("BATON_AGENT_MAX_RESULT_BYTES", "1e300", "BATON_AGENT_MAX_RESULT_BYTES must be an integer"),
        ("BATON_AGENT_MAX_RESULT_BYTES", "99999999999999999999", "BATON_AGENT_MAX_RESULT_BYTES must be an integer"),
        ("BATON_AGENT_REST_MAX_RESPONSE_BYTES", "-5", "agent.rest_max_response_bytes must be between 1 and 536870912 bytes"),
        ("BATON_AGENT_COMMAND_CWD", "tmp", "agent.command_cwd must be an absolute path"),
        ("BATON_AGENT_COMMAND_ENV_ALLOW", "GOOD,A-B", "agent.command_env_allow[1] must be a variable name"),
        ("BATON_EXECUTORS_QUEUE_SHARDS", "echo=4,bad", "BATON_EXECUTORS_QUEUE_SHARDS item 2 must be \"executor_type=shards\""),
        ("BATON_EXECUTORS_QUEUE_SHARDS", "echo=0", "executors.echo.queue_shards must be between 1 and 256 (got 0)"),
        ("BATON_EXECUTORS_QUEUE_SHARDS", "=3", "BATON_EXECUTORS_QUEUE_SHARDS item 1 must be"),
        ("BATON_LIMITS_MAX_TASKS_PER_TREE", "0", "limits.max_tasks_per_tree must be between 1 and 10000000"),
        ("BATON_LIMITS_MAX_TASKS_PER_TREE", "lots", "BATON_LIMITS_MAX_TASKS_PER_TREE must be an integer"),
        ("BATON_LIMITS_MAX_TASKS_PER_READ", "0", "limits.max_tasks_per_read must be between 1 and 10000000"),
    ])
    func badEnvironmentValueNamesTheKey(variable: String, value: String, message: String) throws {
        let path = try temporaryFile("")
        let error = #expect(throws: BatonConfigError.self) {
            try BatonConfig.load(path: path, environment: [variable: value])
        }
        #expect(error?.description.contains(message) == true, "\(String(describing: error))")
    }

    @Test func unknownOrMistypedYAMLKeyNamesIt() throws {
        let typo = try temporaryFile("agent:\n  concurency: 3\n")
        let typoError = #expect(throws: BatonConfigError.self) { try BatonConfig.load(path: typo, environment: [:]) }
        #expect(typoError?.description.contains("agent.concurency: unknown key") == true, "\(String(describing: typoError))")

        let wrongType = try temporaryFile("scheduler:\n  batch_size: lots\n")
        let typeError = #expect(throws: BatonConfigError.self) {
            try BatonConfig.load(path: wrongType, environment: [:])
        }
        #expect(typeError?.description.contains("scheduler.batch_size") == true, "\(String(describing: typeError))")

        let badKey = try temporaryFile("gateway:\n  api_keys: [\"no-user\"]\n")
        let keyError = #expect(throws: BatonConfigError.self) { try BatonConfig.load(path: badKey, environment: [:]) }
        #expect(keyError?.description.contains("gateway.api_keys[0]") == true, "\(String(describing: keyError))")
    }

    @Test func queueShardsPerExecutorTypeFromTheFileAndTheEnvironment() throws {
        let path = try temporaryFile("executors:\n  hot_type:\n    queue_shards: 8\n  cold:\n    queue_shards: 1\n")
        let config = try BatonConfig.load(path: path, environment: [:])
        #expect(config.queueShards == ["hot_type": 8, "cold": 1])
        let overridden = try BatonConfig.load(path: path, environment: ["BATON_EXECUTORS_QUEUE_SHARDS": "hot_type=2, a b=3"])
        #expect(overridden.queueShards == ["hot_type": 2, "cold": 1, "a b": 3])
        let typo = try temporaryFile("executors:\n  hot:\n    queue_shard: 8\n")
        let error = #expect(throws: BatonConfigError.self) { try BatonConfig.load(path: typo, environment: [:]) }
        #expect(error?.description.contains("executors.hot.queue_shard: unknown key") == true, "\(String(describing: error))")
        let braces = try temporaryFile("executors:\n  \"a{b}\":\n    queue_shards: 2\n")
        let nameError = #expect(throws: BatonConfigError.self) { try BatonConfig.load(path: braces, environment: [:]) }
        #expect(nameError?.description.contains("executor type \"a{b}\"") == true, "\(String(describing: nameError))")
    }

    @Test func unknownVariablesAreWarnedAboutWithTheNearestName() {
        let warnings = BatonConfig.unknownVariableWarnings([
            "BATON_AGENT_CONCURENCY": "4", "BATON_REDIS_URL": "redis://x:1", "BATON_SOMETHING_ELSE_ENTIRELY": "1",
            "BATON_LOG_LEVEL": "debug", "PATH": "/bin",
        ])
        #expect(warnings == [
            "unknown environment variable BATON_AGENT_CONCURENCY is ignored (did you mean BATON_AGENT_CONCURRENCY?)",
            "unknown environment variable BATON_SOMETHING_ELSE_ENTIRELY is ignored",
        ])
    }

    @Test func knownExecutorsFromTheFileAndTheEnvironment() throws {
        let path = try temporaryFile("gateway:\n  known_executors: [echo_executor, rest_executor]\n")
        #expect(try BatonConfig.load(path: path, environment: [:]).gateway.knownExecutorSet == ["echo_executor", "rest_executor"])
        let overridden = try BatonConfig.load(path: path, environment: ["BATON_GATEWAY_KNOWN_EXECUTORS": "a, b"])
        #expect(overridden.gateway.knownExecutors == ["a", "b"])
        #expect(try BatonConfig.load(path: try temporaryFile(""), environment: [:]).gateway.knownExecutorSet == nil)
    }

    @Test func missingExplicitFileIsAnError() {
        #expect(throws: BatonConfigError.fileNotFound(path: "/nonexistent/baton.yaml")) {
            try BatonConfig.load(path: "/nonexistent/baton.yaml", environment: [:])
        }
    }

    @Test(arguments: [
        ("k=alice", APIKey(key: "k", userID: "alice")),
        (" k=alice:admin ", APIKey(key: "k", userID: "alice", isAdmin: true)),
        ("k=a=b", nil),
        ("=alice", nil),
        ("k=", nil),
        ("k=alice:root", nil),
        ("k=:admin", nil),
    ])
    func apiKeyParsing(text: String, expected: APIKey?) {
        #expect(APIKey(parsing: text) == expected)
    }
}
