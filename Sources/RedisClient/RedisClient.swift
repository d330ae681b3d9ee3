import Synchronization

/// The entry point: a small pool of auto-pipelining connections for ordinary commands, script
/// execution with a SHA cache, and factories for dedicated blocking connections and subscribers.
///
/// ```swift
/// let redis = try RedisClient(url: "redis://127.0.0.1:6379/0")
/// try await redis.send("SET", "greeting", "hello")
/// let value = try await redis.send("GET", "greeting").string
/// ```
public final class RedisClient: Sendable {
    /// Where the client connects.
    public let configuration: RedisConfiguration
    private let connections: [RedisConnection]
    private let nextConnection = Atomic<Int>(0)

    /// Creates a client; connections are made lazily on first use.
    ///
    /// - Parameter poolSize: connections for ordinary commands. Each pipelines whatever its
    ///   callers send concurrently, so a small pool goes a long way.
    public init(configuration: RedisConfiguration, poolSize: Int = 2) {
        self.configuration = configuration
        connections = (0..<max(1, poolSize)).map { _ in RedisConnection(configuration: configuration) }
    }

    /// Creates a client from a URL such as `redis://127.0.0.1:6379/0`.
    public convenience init(url: String, poolSize: Int = 2) throws(RedisError) {
        self.init(configuration: try RedisConfiguration(url: url), poolSize: poolSize)
    }

    deinit { close() }

    private var connection: RedisConnection {
        let index = nextConnection.wrappingAdd(1, ordering: .relaxed).oldValue
        return connections[index % connections.count]
    }

    /// Sends one command; error replies are thrown as ``RedisError/server(_:)``.
    @discardableResult
    public func send(_ command: RedisCommand, timeout: Duration? = nil) async throws -> RedisReply {
        try await connection.send(command, timeout: timeout)
    }

    /// Sends one command given as text arguments.
    @discardableResult
    public func send(_ arguments: String...) async throws -> RedisReply {
        try await connection.send(RedisCommand(arguments))
    }

    /// Sends commands in one round trip. Replies come back in order; an error reply in the middle
    /// stays in its place and does not affect the others. Not a transaction.
    public func pipeline(_ commands: [RedisCommand], timeout: Duration? = nil) async throws -> [RedisReply] {
        try await connection.pipeline(commands, timeout: timeout)
    }

    /// Runs a script; an error reply (including one raised by the script) is thrown.
    @discardableResult
    public func eval(_ script: RedisScript, keys: [String], arguments: [String], timeout: Duration? = nil) async throws -> RedisReply {
        let replies = try await evalPipeline([RedisScriptCall(script, keys: keys, arguments: arguments)], timeout: timeout)
        return try replies[0].throwingError()
    }

    /// Runs several script calls in one round trip. Replies come back in order with error replies
    /// in place; calls answered NOSCRIPT are loaded and run again.
    ///
    /// Calls run in the order given. When they use more than one script, every script is loaded
    /// (`SCRIPT LOAD`) at the head of the same pipeline: were one of them missing from Redis
    /// (after a restart or `SCRIPT FLUSH`), the calls of the others would run while its calls
    /// failed, and running those again afterwards would change the order. Calls of a single
    /// script fail together when it is missing, so they are simply run again.
    public func evalPipeline(_ calls: [RedisScriptCall], timeout: Duration? = nil) async throws -> [RedisReply] {
        if calls.isEmpty { return [] }
        let connection = self.connection
        var scripts: [RedisScript] = []
        var seen: Set<String> = []
        for call in calls where seen.insert(call.script.sha).inserted { scripts.append(call.script) }
        let commands = calls.map { $0.command(sha: $0.script.sha) }
        let preload = scripts.count > 1 ? scripts.map { RedisCommand("SCRIPT", "LOAD", $0.source) } : []
        var replies = Array(try await connection.pipeline(preload + commands, timeout: timeout).dropFirst(preload.count))
        let missing = replies.indices.filter { replies[$0].errorMessage?.hasPrefix("NOSCRIPT") == true }
        if missing.isEmpty { return replies }
        let reload = scripts.filter { script in missing.contains { calls[$0].script.sha == script.sha } }
            .map { RedisCommand("SCRIPT", "LOAD", $0.source) }
        let second = try await connection.pipeline(reload + missing.map { commands[$0] }, timeout: timeout)
        for (index, reply) in zip(missing, second.dropFirst(reload.count)) { replies[index] = reply }
        return replies
    }

    /// A connection of its own for blocking commands (`BZPOPMIN`, `XREADGROUP … BLOCK`), so they
    /// never hold up other callers. Cancelling a task that waits on it aborts the command.
    public func makeBlockingConnection(name: String? = nil) -> RedisConnection {
        var configuration = self.configuration
        if let name { configuration.clientName = name }
        return RedisConnection(configuration: configuration, interruptible: true)
    }

    /// A pub/sub subscriber on a connection of its own.
    public func makeSubscriber(name: String? = nil) -> RedisSubscriber {
        var configuration = self.configuration
        if let name { configuration.clientName = name }
        return RedisSubscriber(configuration: configuration)
    }

    /// Closes every pooled connection.
    public func close() {
        for connection in connections { connection.close() }
    }
}
