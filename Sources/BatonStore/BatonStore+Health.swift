import BatonCore
import RedisClient

/// Whether the Redis behind a store can serve Baton (the gateway's `/readyz`).
public struct RedisReadiness: Sendable, Hashable {
    /// `standalone` or `cluster` (`unknown` when no node answered).
    public var mode: String
    /// The masters asked (one for a standalone server).
    public var masters: [String] = []
    /// What is wrong, one line per node or problem; empty when ready.
    public var problems: [String] = []

    public var isReady: Bool { problems.isEmpty && !masters.isEmpty }

    public var jsonValue: JSONValue {
        [
            "mode": .string(mode),
            "masters": .array(masters.map(JSONValue.string)),
            "problems": .array(problems.map(JSONValue.string)),
        ]
    }
}

extension BatonStore {
    /// Pings every master, and on a cluster checks that each says `cluster_state:ok` (every
    /// slot served). Never throws: an unreachable Redis is a problem in the answer.
    public func redisReadiness(timeout: Duration = .seconds(2)) async -> RedisReadiness {
        do {
            let cluster = try await redis.isCluster()
            var readiness = RedisReadiness(mode: cluster ? "cluster" : "standalone")
            for (node, reply) in try await redis.sendToEveryMaster(RedisCommand("PING"), timeout: timeout) {
                readiness.masters.append(node)
                if reply.string != "PONG" { readiness.problems.append("\(node): \(reply.errorMessage ?? "answered \(reply)")") }
            }
            if cluster {
                for (node, reply) in try await redis.sendToEveryMaster(RedisCommand("CLUSTER", "INFO"), timeout: timeout) {
                    let state = reply.string?.split(whereSeparator: \.isNewline).first { $0.hasPrefix("cluster_state:") }
                    if state.map({ $0.hasSuffix("ok") }) != true {
                        readiness.problems.append("\(node): \(state.map(String.init) ?? reply.errorMessage ?? "no cluster state")")
                    }
                }
            }
            return readiness
        } catch {
            return RedisReadiness(mode: "unknown", problems: ["\(error)"])
        }
    }
}
