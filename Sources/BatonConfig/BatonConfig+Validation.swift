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

        if !redisURL.hasPrefix("redis://") && !redisURL.hasPrefix("unix://") {
            throw fail("redis_url", "must start with redis:// or unix:// (got \"\(redisURL)\")")
        }
        if namespace.isEmpty || namespace.contains(where: { "{} \t\n".contains($0) }) {
            throw fail("namespace", "must be non-empty, without braces or spaces (got \"\(namespace)\")")
        }

        try atLeast("agent.concurrency", agent.concurrency, 1)
        try positive("agent.heartbeat_interval_s", agent.heartbeatIntervalSeconds)
        try positive("agent.lease_s", agent.leaseSeconds)
        if agent.leaseSeconds <= agent.heartbeatIntervalSeconds {
            throw fail(
                "agent.lease_s",
                "must be greater than agent.heartbeat_interval_s (\(agent.leaseSeconds) <= \(agent.heartbeatIntervalSeconds))")
        }
        if !(agent.shutdownGraceSeconds >= 0) || !agent.shutdownGraceSeconds.isFinite {
            throw fail("agent.shutdown_grace_s", "must be 0 or more seconds (got \(agent.shutdownGraceSeconds))")
        }
        try positive("agent.rest_timeout_s", agent.restTimeoutSeconds)

        try within("scheduler.batch_size", scheduler.batchSize, 1...100_000)
        try within("scheduler.block_ms", scheduler.blockMillis, 1...60_000)
        try within("scheduler.reaper_interval_ms", scheduler.reaperIntervalMillis, 1...3_600_000)
        try within("scheduler.events_maxlen", scheduler.eventsMaxLength, 1...100_000_000)

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
