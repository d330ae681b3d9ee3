import BatonConfig
import Synchronization

/// How long a connection may take and how large its request heads may be, and how many
/// connections the gateway keeps open (`gateway.header_timeout_s`, `idle_timeout_s`,
/// `max_request_line_bytes`, `max_header_bytes`, `max_connections`). Enforced by
/// ``HTTPConnectionGuard`` and Hummingbird's idle timeout; see ``Gateway``.
public struct ConnectionLimits: Sendable {
    /// Time for a complete request head, from the connection or from the first byte after a response (408).
    public var headerTimeout: Duration
    /// Time a keep-alive connection may stay idle between requests, or stall in a body (closed).
    public var idleTimeout: Duration
    /// Longest request line, in bytes (414).
    public var maxRequestLineBytes: Int
    /// Largest header section after the request line, in bytes (431).
    public var maxHeaderBytes: Int
    /// Open connections at most (503 beyond).
    public var maxConnections: Int

    /// Limits from the `gateway` section of the configuration.
    public init(_ config: GatewayConfig) {
        headerTimeout = Self.duration(config.headerTimeoutSeconds)
        idleTimeout = Self.duration(config.idleTimeoutSeconds)
        maxRequestLineBytes = config.maxRequestLineBytes
        maxHeaderBytes = config.maxHeaderBytes
        maxConnections = config.maxConnections
    }

    /// Seconds as a duration, clamped to 1 ms…1 day (the configuration is validated; this only
    /// keeps an unvalidated value from trapping).
    static func duration(_ seconds: Double) -> Duration {
        guard seconds.isFinite else { return .seconds(86_400) }
        return .milliseconds(Int64((min(max(seconds, 0.001), 86_400) * 1000).rounded()))
    }
}

/// The gateway's open connections, counted by every connection's ``HTTPConnectionGuard``.
final class ConnectionCounter: Sendable {
    let limit: Int
    private let open = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Takes a slot; false (and nothing taken) when ``limit`` connections are open.
    func acquire() -> Bool {
        if open.wrappingAdd(1, ordering: .relaxed).newValue <= limit { return true }
        open.wrappingSubtract(1, ordering: .relaxed)
        return false
    }

    /// Gives a slot back.
    func release() {
        open.wrappingSubtract(1, ordering: .relaxed)
    }

    /// Connections holding a slot now.
    var current: Int { open.load(ordering: .relaxed) }
}
