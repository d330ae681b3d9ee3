/// Everything that can go wrong talking to Redis.
public enum RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The server answered with an error reply (`ERR …`, `WRONGTYPE …`, `NOSCRIPT …`).
    case server(String)
    /// No connection could be made (refused, unreachable, AUTH or SELECT rejected).
    case connectFailed(String)
    /// The connection broke while the command was in flight; it may or may not have run.
    case connectionLost(String)
    /// The reply did not arrive before the command timeout; the connection was reset.
    case timeout
    /// The connection or subscriber was closed by its owner.
    case closed
    /// The configuration (usually the URL) is invalid.
    case invalidConfiguration(String)
    /// The server's reply could not be understood.
    case protocolError(String)
    /// A command or script call whose keys hash to different cluster slots; refused before it
    /// was sent (Redis Cluster would answer CROSSSLOT).
    case crossSlot(String)

    public var description: String {
        switch self {
        case .server(let message): return "Redis error: \(message)"
        case .connectFailed(let reason): return "cannot connect to Redis: \(reason)"
        case .connectionLost(let reason): return "connection to Redis lost: \(reason)"
        case .timeout: return "Redis command timed out"
        case .closed: return "Redis connection closed"
        case .invalidConfiguration(let reason): return "invalid Redis configuration: \(reason)"
        case .protocolError(let reason): return "Redis protocol error: \(reason)"
        case .crossSlot(let reason): return "refused before sending (CROSSSLOT): \(reason)"
        }
    }

    /// True when retrying on a fresh connection may succeed.
    public var isConnectionError: Bool {
        switch self {
        case .connectFailed, .connectionLost, .timeout: return true
        default: return false
        }
    }
}
