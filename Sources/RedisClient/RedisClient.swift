import Synchronization

/// The entry point: a small pool of auto-pipelining connections for ordinary commands, script
/// execution with a SHA cache, and factories for dedicated blocking connections and subscribers.
///
/// On first use the client asks the server whether it runs as a Redis Cluster (`INFO cluster`).
/// If it does, every command and script call is routed by the slot of its keys to the master
/// that serves it (``ClusterRouter``), pipelines are split by node with their replies returned
/// in the caller's order, and a command whose keys span slots is refused before it is sent
/// (``RedisError/crossSlot(_:)``). On a standalone server commands go to it as they are.
///
/// ```swift
/// let redis = try RedisClient(url: "redis://127.0.0.1:6379/0")
/// try await redis.send("SET", "greeting", "hello")
/// let value = try await redis.send("GET", "greeting").string
/// ```
public final class RedisClient: Sendable {
    /// Where the client connects.
    public let configuration: RedisConfiguration
    private let standalone: NodePool
    private let poolSize: Int
    private let mode = Mutex(ModeState.unknown)

    /// Standalone or cluster, found out on first use.
    enum Mode: Sendable {
        case standalone
        case cluster(ClusterRouter)
    }

    private enum ModeState {
        case unknown
        case detecting(Task<Mode, any Error>)
        case known(Mode)
        case closed
    }

    /// Creates a client; connections are made lazily on first use.
    ///
    /// - Parameter poolSize: connections for ordinary commands (per node on a cluster). Each
    ///   pipelines whatever its callers send concurrently, so a small pool goes a long way.
    public init(configuration: RedisConfiguration, poolSize: Int = 2) {
        self.configuration = configuration
        self.poolSize = max(1, poolSize)
        standalone = NodePool(configuration: configuration, size: poolSize)
    }

    /// Creates a client from a URL such as `redis://127.0.0.1:6379/0` (or a comma-separated
    /// list of a cluster's seeds).
    public convenience init(url: String, poolSize: Int = 2) throws(RedisError) {
        self.init(configuration: try RedisConfiguration(url: url), poolSize: poolSize)
    }

    deinit { close() }

    /// True when the server is a Redis Cluster (asks it on first use).
    public func isCluster() async throws -> Bool {
        if case .cluster = try await resolvedMode() { return true }
        return false
    }

    /// Sends one command; error replies are thrown as ``RedisError/server(_:)``.
    @discardableResult
    public func send(_ command: RedisCommand, timeout: Duration? = nil) async throws -> RedisReply {
        switch try await resolvedMode() {
        case .standalone:
            return try await standalone.connection.send(command, timeout: timeout)
        case .cluster(let router):
            return try await routedPipeline([command], router: router, timeout: timeout)[0].throwingError()
        }
    }

    /// Sends one command given as text arguments.
    @discardableResult
    public func send(_ arguments: String...) async throws -> RedisReply {
        try await send(RedisCommand(arguments))
    }

    /// Sends commands in one round trip (one per node on a cluster). Replies come back in
    /// order; an error reply in the middle stays in its place and does not affect the others.
    /// Not a transaction.
    public func pipeline(_ commands: [RedisCommand], timeout: Duration? = nil) async throws -> [RedisReply] {
        if commands.isEmpty { return [] }
        switch try await resolvedMode() {
        case .standalone:
            return try await standalone.connection.pipeline(commands, timeout: timeout)
        case .cluster(let router):
            return try await routedPipeline(commands, router: router, timeout: timeout)
        }
    }

    private func routedPipeline(_ commands: [RedisCommand], router: ClusterRouter, timeout: Duration?) async throws -> [RedisReply] {
        let slots = try commands.map { try $0.slot() }
        return try await router.route(slots: slots) { pool, indices, asking in
            var batch: [RedisCommand] = []
            var positions: [Int] = []
            for index in indices {
                if asking.contains(index) { batch.append(RedisCommand("ASKING")) }
                positions.append(batch.count)
                batch.append(commands[index])
            }
            let replies = try await pool.connection.pipeline(batch, timeout: timeout)
            return positions.map { replies[$0] }
        }
    }

    /// Every key that matches a `SCAN` pattern — on a cluster, of every master. For tools and
    /// tests: it walks the whole key space.
    public func scan(match pattern: String, count: Int = 1000) async throws -> [String] {
        let nodes: [RedisConnection]
        switch try await resolvedMode() {
        case .standalone: nodes = [standalone.connection]
        case .cluster(let router): nodes = try router.masters.map { try router.pool(for: $0).connection }
        }
        var keys: [String] = []
        for node in nodes {
            var cursor = "0"
            repeat {
                let reply = try await node.send(RedisCommand("SCAN", cursor, "MATCH", pattern, "COUNT", String(count)))
                guard let parts = reply.array, parts.count == 2, let next = parts[0].string else {
                    throw RedisError.protocolError("unexpected SCAN reply")
                }
                cursor = next
                keys += (parts[1].array ?? []).compactMap(\.string)
            } while cursor != "0"
        }
        return keys
    }

    /// Sends a command without keys to every node that serves slots (`PING`, `INFO`,
    /// `CONFIG GET`, `SCRIPT FLUSH`); on a standalone server, to it. Returns each node's reply;
    /// a node that cannot be reached answers an error reply saying why.
    public func sendToEveryMaster(_ command: RedisCommand, timeout: Duration? = nil) async throws -> [(node: String, reply: RedisReply)] {
        let pools: [NodePool]
        switch try await resolvedMode() {
        case .standalone: pools = [standalone]
        case .cluster(let router): pools = try router.masters.map { try router.pool(for: $0) }
        }
        var replies: [(node: String, reply: RedisReply)] = []
        for pool in pools {
            do {
                replies.append(("\(pool.address)", try await pool.connection.pipeline([command], timeout: timeout)[0]))
            } catch {
                replies.append(("\(pool.address)", .error("unreachable: \(error)")))
            }
        }
        return replies
    }

    /// Runs a script; an error reply (including one raised by the script) is thrown.
    @discardableResult
    public func eval(_ script: RedisScript, keys: [String], arguments: [String], timeout: Duration? = nil) async throws -> RedisReply {
        let replies = try await evalPipeline([RedisScriptCall(script, keys: keys, arguments: arguments)], timeout: timeout)
        return try replies[0].throwingError()
    }

    /// Runs several script calls in one round trip (one per node on a cluster). Replies come
    /// back in order with error replies in place; calls answered NOSCRIPT are loaded and run again
    /// (per node: each node has its own script cache).
    ///
    /// Calls run in the order given (per node). When they use more than one script, every script
    /// is loaded (`SCRIPT LOAD`) at the head of the same pipeline: were one of them missing from
    /// Redis (after a restart or `SCRIPT FLUSH`), the calls of the others would run while its
    /// calls failed, and running those again afterwards would change the order. Calls of a single
    /// script fail together when it is missing, so they are simply run again.
    public func evalPipeline(_ calls: [RedisScriptCall], timeout: Duration? = nil) async throws -> [RedisReply] {
        try await evalPipeline(calls, alsoSending: [], timeout: timeout).scripts
    }

    /// ``evalPipeline(_:timeout:)`` with plain commands in the same round trip (after the calls
    /// of their node): no second request, and no concurrent task to issue it.
    public func evalPipeline(
        _ calls: [RedisScriptCall], alsoSending plain: [RedisCommand], timeout: Duration? = nil
    ) async throws -> (scripts: [RedisReply], plain: [RedisReply]) {
        if calls.isEmpty && plain.isEmpty { return ([], []) }
        switch try await resolvedMode() {
        case .standalone:
            let replies = try await Self.run(calls, plain: plain, asking: [], on: standalone.connection, timeout: timeout)
            return (Array(replies.prefix(calls.count)), Array(replies.dropFirst(calls.count)))
        case .cluster(let router):
            let slots = try calls.map { try $0.command(sha: $0.script.sha).slot() } + plain.map { try $0.slot() }
            let replies = try await router.route(slots: slots) { pool, indices, asking in
                // The node's script calls, then its plain commands; replies back in `indices` order.
                let order = indices.filter { $0 < calls.count } + indices.filter { $0 >= calls.count }
                let sent = try await Self.run(
                    order.prefix { $0 < calls.count }.map { calls[$0] }, plain: order.drop { $0 < calls.count }.map { plain[$0 - calls.count] },
                    asking: Set(order.indices.filter { asking.contains(order[$0]) }),
                    on: pool.connection, timeout: timeout)
                let byIndex = Dictionary(uniqueKeysWithValues: zip(order, sent))
                return indices.map { byIndex[$0]! }
            }
            return (Array(replies.prefix(calls.count)), Array(replies.dropFirst(calls.count)))
        }
    }

    /// Runs script calls, then `plain` commands, on one connection (see
    /// ``evalPipeline(_:timeout:)``); the items at the positions in `asking` (counted over the
    /// calls, then the plain commands) are preceded by `ASKING` (a slot being migrated to that
    /// node). Returns the calls' replies followed by the plain commands'.
    private static func run(
        _ calls: [RedisScriptCall], plain: [RedisCommand] = [], asking: Set<Int>, on connection: RedisConnection, timeout: Duration?
    ) async throws -> [RedisReply] {
        var scripts: [RedisScript] = []
        var seen: Set<String> = []
        for call in calls where seen.insert(call.script.sha).inserted { scripts.append(call.script) }
        let commands = calls.map { $0.command(sha: $0.script.sha) } + plain
        func batch(_ positions: [Int]) -> (commands: [RedisCommand], replyAt: [Int]) {
            var batch: [RedisCommand] = []
            var replyAt: [Int] = []
            for position in positions {
                if asking.contains(position) { batch.append(RedisCommand("ASKING")) }
                replyAt.append(batch.count)
                batch.append(commands[position])
            }
            return (batch, replyAt)
        }
        // A call sent with ASKING goes to a node that may never have seen the script: load it.
        let preload = (scripts.count > 1 || !asking.isEmpty) ? scripts.map { RedisCommand("SCRIPT", "LOAD", $0.source) } : []
        let first = batch(Array(commands.indices))
        let sent = try await connection.pipeline(preload + first.commands, timeout: timeout)
        var replies = first.replyAt.map { sent[preload.count + $0] }
        let missing = replies.indices.filter { $0 < calls.count && replies[$0].errorMessage?.hasPrefix("NOSCRIPT") == true }
        if missing.isEmpty { return replies }
        let reload = scripts.filter { script in missing.contains { calls[$0].script.sha == script.sha } }
            .map { RedisCommand("SCRIPT", "LOAD", $0.source) }
        let again = batch(missing)
        let second = try await connection.pipeline(reload + again.commands, timeout: timeout)
        for (index, position) in zip(missing, again.replyAt) { replies[index] = second[reload.count + position] }
        return replies
    }

    /// A connection of its own for blocking commands (`BZPOPMIN`, `XREADGROUP … BLOCK`), so they
    /// never hold up other callers; on a cluster it connects to the node of each command's keys.
    /// Cancelling a task that waits on it aborts the command.
    public func makeBlockingConnection(name: String? = nil) -> RedisBlockingConnection {
        var configuration = self.configuration
        if let name { configuration.clientName = name }
        return RedisBlockingConnection(client: self, configuration: configuration)
    }

    /// A pub/sub subscriber on a connection of its own.
    public func makeSubscriber(name: String? = nil) -> RedisSubscriber {
        var configuration = self.configuration
        if let name { configuration.clientName = name }
        return RedisSubscriber(configuration: configuration)
    }

    /// Closes every pooled connection.
    public func close() {
        let state = mode.withLock { state in
            defer { state = .closed }
            return state
        }
        standalone.close()
        switch state {
        case .known(.cluster(let router)): router.close()
        case .detecting(let task): task.cancel()
        default: break
        }
    }

    // MARK: Mode

    /// Standalone or cluster: asked once (concurrent first callers share the question); a
    /// failure (no seed answers) is thrown and asked again on the next call.
    func resolvedMode() async throws -> Mode {
        let task: Task<Mode, any Error>
        switch try mode.withLock({ state throws(RedisError) -> ModeState in
            switch state {
            case .known, .detecting: return state
            case .closed: throw .closed
            case .unknown:
                state = .detecting(Task { try await self.detectMode() })
                return state
            }
        }) {
        case .known(let mode): return mode
        case .detecting(let detecting): task = detecting
        case .unknown, .closed: throw RedisError.closed
        }
        do {
            let mode = try await task.value
            self.mode.withLock { if case .detecting = $0 { $0 = .known(mode) } }
            return mode
        } catch {
            self.mode.withLock { if case .detecting = $0 { $0 = .unknown } }
            throw error
        }
    }

    /// Asks the seeds in turn whether cluster mode is enabled; the first that answers decides.
    private func detectMode() async throws -> Mode {
        var lastError: any Error = RedisError.connectFailed("no seed given")
        for (index, seed) in configuration.seeds.enumerated() {
            let pool: NodePool
            var seedConfiguration = configuration
            seedConfiguration.endpoint = seed
            pool = index == 0 ? standalone : NodePool(configuration: seedConfiguration, size: 1)
            defer { if index != 0 { pool.close() } }
            let info: RedisReply
            do {
                info = try await pool.connection.pipeline([RedisCommand("INFO", "cluster")])[0]
            } catch {
                lastError = error
                continue
            }
            // An error reply (INFO not allowed to this user, say) is taken for a standalone server.
            let enabled = info.string?.split(whereSeparator: \.isNewline).contains { $0.hasPrefix("cluster_enabled:1") } ?? false
            if !enabled { return .standalone }
            let seeds = configuration.seeds.compactMap { endpoint -> NodeAddress? in
                if case .tcp(let host, let port) = endpoint { return NodeAddress(host: host, port: port) }
                return nil
            }
            return .cluster(try await ClusterRouter(configuration: configuration, seeds: seeds, poolSize: poolSize))
        }
        throw lastError
    }
}
