import Synchronization

/// A small pool of auto-pipelining connections to one Redis node.
final class NodePool: Sendable {
    let address: NodeAddress
    private let connections: [RedisConnection]
    private let next = Atomic<Int>(0)

    init(address: NodeAddress, configuration: RedisConfiguration, size: Int) {
        var configuration = configuration
        configuration.endpoint = .tcp(host: address.host, port: address.port)
        self.address = address
        connections = (0..<max(1, size)).map { _ in RedisConnection(configuration: configuration) }
    }

    /// The pool of a configuration's own endpoint (standalone Redis, Unix sockets included).
    init(configuration: RedisConfiguration, size: Int) {
        switch configuration.endpoint {
        case .tcp(let host, let port): address = NodeAddress(host: host, port: port)
        case .unix(let path): address = NodeAddress(host: path, port: 0)
        }
        connections = (0..<max(1, size)).map { _ in RedisConnection(configuration: configuration) }
    }

    /// The next connection, round robin.
    var connection: RedisConnection {
        connections[next.wrappingAdd(1, ordering: .relaxed).oldValue % connections.count]
    }

    func close() {
        for connection in connections { connection.close() }
    }
}
