extension BatonConfig {
    /// Checks ranges and relations between values, whether they came from a file or the
    /// environment; errors name the configuration key (`agent.lease_s`).
    public func validate() throws {
        func fail(_ key: String, _ reason: String) -> BatonConfigError {
            .invalidValue(key: key, reason: reason)
        }
        func atLeast(_ key: String, _ value: Int, _ minimum: Int) throws {
            if value < minimum { throw fail(key, "must be at least \(minimum) (got \(value))") }
        }
        func within(_ key: String, _ value: Int, _ range: ClosedRange<Int>) throws {
            if !range.contains(value) {
                throw fail(key, "must be between \(range.lowerBound) and \(range.upperBound) (got \(value))")
            }
        }
        func positive(_ key: String, _ value: Double) throws {
            if !(value > 0) || !value.isFinite { throw fail(key, "must be a positive number of seconds (got \(value))") }
        }

        let seeds = redisURL.split(separator: ",", omittingEmptySubsequences: false)
        if seeds.count > 1, let bad = seeds.first(where: { !$0.trimmingPrefix(while: \.isWhitespace).hasPrefix("redis://") }) {
            throw fail("redis_url", "a list of cluster seeds must be redis:// URLs separated by commas (got \"\(bad)\")")
        }
        if !redisURL.hasPrefix("redis://") && !redisURL.hasPrefix("unix://") {
            throw fail("redis_url", "must start with redis:// or unix:// (got \"\(redisURL)\")")
        }
        if namespace.isEmpty || namespace.contains(where: { "{} \t\n".contains($0) }) {
            throw fail("namespace", "must be non-empty, without braces or spaces (got \"\(namespace)\")")
        }

        try validateAgent()

        try within("scheduler.batch_size", scheduler.batchSize, 1...100_000)
        try within("scheduler.block_ms", scheduler.blockMillis, 1...60_000)
        try within("scheduler.reaper_interval_ms", scheduler.reaperIntervalMillis, 1...3_600_000)
        try within("scheduler.events_maxlen", scheduler.eventsMaxLength, 1...100_000_000)
        try within("scheduler.reclaim_idle_ms", scheduler.reclaimIdleMillis, 1_000...86_400_000)
        try within("scheduler.inflight_repair_ms", scheduler.inflightRepairMillis, 500...3_600_000)
        try within("scheduler.orphan_sweep_ms", scheduler.orphanSweepMillis, 100...3_600_000)
        try within("retention.finished_s", retention.finishedSeconds, 0...RetentionConfig.maxSeconds)
        try within("limits.max_tasks_per_tree", limits.maxTasksPerTree, 1...LimitsConfig.maxTasksPerTreeCeiling)
        try within("limits.max_tasks_per_read", limits.maxTasksPerRead, 1...LimitsConfig.maxTasksPerTreeCeiling)
        try within("bus.shards", bus.shards, 1...BusConfig.maxShards)
        for (executor, settings) in executors.sorted(by: { $0.key < $1.key }) {
            if !Self.isValidName(executor) {
                throw fail("executors", "executor type \"\(executor)\" must be 1…255 bytes without braces or control characters")
            }
            try within("executors.\(executor).queue_shards", settings.queueShards, 1...ExecutorTypeConfig.maxQueueShards)
            for (name, limit) in [("max_running", settings.maxRunning), ("max_running_per_key", settings.maxRunningPerKey)] {
                guard let limit else { continue }
                try within("executors.\(executor).\(name)", limit, 1...ExecutorTypeConfig.maxRunningCeiling)
            }
            for (name, rate) in [("rate_limit", settings.rateLimit), ("rate_limit_per_key", settings.rateLimitPerKey)] {
                guard let rate else { continue }
                let key = "executors.\(executor).\(name)"
                try within("\(key).tasks", rate.tasks, 1...ExecutorTypeConfig.maxRunningCeiling)
                try within("\(key).burst", rate.burst, 1...ExecutorTypeConfig.maxRunningCeiling)
                if !(rate.intervalSeconds > 0 && rate.intervalSeconds <= 86_400) {
                    throw fail("\(key).interval_s", "must be more than 0 and at most 86400 (got \(rate.intervalSeconds))")
                }
            }
            if settings.hasLimits && settings.queueShards > 1 {
                // One script enforces a limit: it sees one shard's leases and rate state only.
                throw fail("executors.\(executor)", "limits need queue_shards: 1 (a limit is enforced on one queue shard; got \(settings.queueShards))")
            }
        }
        for (user, weight) in fairness.weights.sorted(by: { $0.key < $1.key }) {
            if !Self.isValidName(user) || user.contains("\t") {
                throw fail("fairness.weights", "user \"\(user)\" must be 1…255 bytes without braces or control characters")
            }
            try within("fairness.weights.\(user)", weight, 1...FairnessConfig.maxWeight)
        }
        if let name = scheduler.consumerName, !Self.isValidName(name) {
            throw fail("scheduler.consumer_name", "must be 1…255 bytes without braces or control characters (got \"\(name)\")")
        }

        if gateway.host.isEmpty { throw fail("gateway.host", "must not be empty") }
        if !(0...65535).contains(gateway.port) {
            throw fail("gateway.port", "must be between 0 and 65535 (got \(gateway.port))")
        }
        var usersByKey: [String: String] = [:]
        for apiKey in gateway.apiKeys {
            if let other = usersByKey.updateValue(apiKey.userID, forKey: apiKey.key) {
                throw fail("gateway.api_keys", "lists one key twice (users \(other) and \(apiKey.userID))")
            }
        }
        try within("gateway.max_body_bytes", gateway.maxBodyBytes, 1...1_073_741_824)
        for (index, name) in gateway.knownExecutors.enumerated() where !Self.isValidName(name) {
            throw fail("gateway.known_executors[\(index)]", "must be 1…255 bytes without braces or control characters (got \"\(name)\")")
        }
        try validateGatewayConnections()
        for (subject, executors) in gateway.executorPolicy {
            for name in [subject] + executors where !Self.isValidName(name) {
                throw fail(
                    "gateway.executor_policy",
                    "names must be 1…255 bytes without braces or control characters (got \"\(name)\")")
            }
        }
        for apiKey in gateway.apiKeys where !Self.isValidName(apiKey.userID) {
            throw fail("gateway.api_keys", "user ids must be 1…255 bytes without braces or control characters (got \"\(apiKey.userID)\")")
        }
    }

    /// The identifier rule of BatonCore's `Identifier` (this module does not depend on BatonCore):
    /// 1…255 bytes, no control characters, no braces.
    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 255
            && !name.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0 == "{" || $0 == "}" }
    }
}

extension BatonConfig {
    /// The `agent` section. Every number has an upper bound as well, so that no conversion to
    /// milliseconds, bytes or durations can overflow; entries that need the agent's machine
    /// (programs on its `PATH`, the directory, address ranges) are checked again when it starts.
    func validateAgent() throws {
        func fail(_ key: String, _ reason: String) -> BatonConfigError {
            .invalidValue(key: key, reason: reason)
        }
        func seconds(_ key: String, _ value: Double, atMost maximum: Double, zeroAllowed: Bool = false) throws {
            let low = zeroAllowed ? value >= 0 : value > 0
            if !low || !value.isFinite {
                throw fail(key, zeroAllowed ? "must be 0 or more seconds (got \(value))" : "must be a positive number of seconds (got \(value))")
            }
            if value > maximum { throw fail(key, "must be at most \(Int(maximum)) seconds (got \(value))") }
        }
        func bytes(_ key: String, _ value: Int) throws {
            if !(1...536_870_912).contains(value) {
                throw fail(key, "must be between 1 and 536870912 bytes (got \(value))")
            }
        }
        func entries(_ key: String, _ list: [String], _ rule: String, _ valid: (String) -> Bool) throws {
            for (index, entry) in list.enumerated() where !valid(entry) {
                throw fail("\(key)[\(index)]", "\(rule) (got \"\(entry)\")")
            }
        }

        if agent.concurrency < 1 { throw fail("agent.concurrency", "must be at least 1 (got \(agent.concurrency))") }
        if agent.concurrency > 10_000 { throw fail("agent.concurrency", "must be at most 10000 (got \(agent.concurrency))") }
        try seconds("agent.heartbeat_interval_s", agent.heartbeatIntervalSeconds, atMost: 3_600)
        try seconds("agent.lease_s", agent.leaseSeconds, atMost: 86_400)
        if agent.leaseSeconds <= agent.heartbeatIntervalSeconds {
            throw fail(
                "agent.lease_s",
                "must be greater than agent.heartbeat_interval_s (\(agent.leaseSeconds) <= \(agent.heartbeatIntervalSeconds))")
        }
        try seconds("agent.shutdown_grace_s", agent.shutdownGraceSeconds, atMost: 86_400, zeroAllowed: true)
        try bytes("agent.max_result_bytes", agent.maxResultBytes)
        let printable: (String) -> Bool = { text in
            !text.isEmpty && !text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F || $0 == " " }
        }
        try entries("agent.command_allowlist", agent.commandAllowlist, "must be a program name or an absolute path", printable)
        try entries("agent.command_env_allow", agent.commandEnvAllow, "must be a variable name ([A-Za-z_][A-Za-z0-9_]*)") { name in
            guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else {
                return false
            }
            return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
        }
        if !agent.commandCwd.hasPrefix("/") || agent.commandCwd.contains("\0") {
            throw fail("agent.command_cwd", "must be an absolute path (got \"\(agent.commandCwd)\")")
        }
        try seconds("agent.rest_timeout_s", agent.restTimeoutSeconds, atMost: 604_800)
        try entries("agent.rest_allow", agent.restAllow, "must be a host name, an IP address or a range such as 10.0.0.0/8", printable)
        try bytes("agent.rest_max_response_bytes", agent.restMaxResponseBytes)
    }
}

extension BatonConfig {
    /// The connection limits of the `gateway` section: every one positive and bounded, so that
    /// conversions to durations and buffer sizes cannot overflow.
    func validateGatewayConnections() throws {
        func seconds(_ key: String, _ value: Double, atMost maximum: Double) throws {
            if !(value > 0) || !value.isFinite {
                throw BatonConfigError.invalidValue(key: key, reason: "must be a positive number of seconds (got \(value))")
            }
            if value > maximum {
                throw BatonConfigError.invalidValue(key: key, reason: "must be at most \(Int(maximum)) seconds (got \(value))")
            }
        }
        func within(_ key: String, _ value: Int, _ range: ClosedRange<Int>) throws {
            if !range.contains(value) {
                throw BatonConfigError.invalidValue(
                    key: key, reason: "must be between \(range.lowerBound) and \(range.upperBound) (got \(value))")
            }
        }
        try seconds("gateway.header_timeout_s", gateway.headerTimeoutSeconds, atMost: 3_600)
        try seconds("gateway.idle_timeout_s", gateway.idleTimeoutSeconds, atMost: 86_400)
        try within("gateway.max_request_line_bytes", gateway.maxRequestLineBytes, 256...1_048_576)
        try within("gateway.max_header_bytes", gateway.maxHeaderBytes, 256...1_048_576)
        try within("gateway.max_connections", gateway.maxConnections, 1...1_000_000)
        try within("gateway.stream_buffer_bytes", gateway.streamBufferBytes, 4_096...1_073_741_824)
    }
}
