import Synchronization

/// A connection of its own for blocking commands (`BZPOPMIN`, `XREADGROUP … BLOCK`), made by
/// ``RedisClient/makeBlockingConnection(name:)``. On a standalone server it is one connection;
/// on a cluster it connects to the master of each command's slot (a command that spans slots is
/// refused before it is sent), moves to the new master after a `MOVED` or a failover, and sends
/// `ASKING` first after an `ASK`. Cancelling the waiting task aborts the command.
public final class RedisBlockingConnection: Sendable {
    private let client: RedisClient
    private let configuration: RedisConfiguration
    /// The node the connection goes to (`nil`: the configured endpoint) and the connection.
    private let current = Mutex<(node: NodeAddress?, connection: RedisConnection?, closed: Bool)>((nil, nil, false))

    init(client: RedisClient, configuration: RedisConfiguration) {
        self.client = client
        self.configuration = configuration
    }

    deinit { close() }

    /// Sends one command and returns its reply; an error reply is thrown as ``RedisError/server(_:)``.
    @discardableResult
    public func send(_ command: RedisCommand, timeout: Duration? = nil) async throws -> RedisReply {
        guard case .cluster(let router) = try await client.resolvedMode() else {
            return try await connection(to: nil).send(command, timeout: timeout)
        }
        let slot = try command.slot()
        let deadline = ContinuousClock.now + configuration.reconnectTimeout
        var asking: NodeAddress?
        var delay = Duration.milliseconds(10)
        for _ in 0..<16 {
            var node = asking ?? slot.flatMap { router.owner(of: $0) } ?? router.masters.first
            if node == nil {
                try? await router.refreshTopology()
                node = slot.flatMap { router.owner(of: $0) } ?? router.masters.first
            }
            guard let node else { throw RedisError.connectFailed("no Redis Cluster master serves slot \(slot ?? -1)") }
            let connection = connection(to: node)
            let reply: RedisReply
            do {
                if asking != nil {
                    reply = try await connection.pipeline([RedisCommand("ASKING"), command], timeout: timeout)[1]
                } else {
                    reply = try await connection.pipeline([command], timeout: timeout)[0]
                }
            } catch RedisError.connectFailed(let reason) where ContinuousClock.now < deadline {
                _ = reason
                try? await router.refreshTopology()
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .milliseconds(400))
                continue
            }
            asking = nil
            guard let message = reply.errorMessage, let redirect = ClusterRouter.Redirect(message, defaultHost: node.host) else {
                return try reply.throwingError()
            }
            switch redirect {
            case .moved(let movedSlot, let target): router.noteMoved(slot: movedSlot, to: target)
            case .ask(_, let target): asking = target
            case .retryLater:
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .milliseconds(400))
            }
        }
        throw RedisError.connectFailed("Redis Cluster kept redirecting \(command.name) (slot \(slot ?? -1))")
    }

    /// Closes the connection: a command waiting on it fails with ``RedisError/closed``.
    public func close() {
        let connection = current.withLock { state -> RedisConnection? in
            state.closed = true
            defer { state.connection = nil }
            return state.connection
        }
        connection?.close()
    }

    /// The connection to `node`, replacing one to another node.
    private func connection(to node: NodeAddress?) -> RedisConnection {
        var configuration = self.configuration
        if let node { configuration.endpoint = .tcp(host: node.host, port: node.port) }
        let (connection, replaced) = current.withLock { state -> (RedisConnection, RedisConnection?) in
            if let connection = state.connection, state.node == node { return (connection, nil) }
            let connection = RedisConnection(configuration: configuration, interruptible: true)
            if state.closed { connection.close() }
            let old = state.connection
            state = (node, connection, state.closed)
            return (connection, old)
        }
        replaced?.close()
        return connection
    }
}
