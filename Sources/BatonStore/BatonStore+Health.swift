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

/// What one master's `INFO memory`, `INFO persistence` and `CONFIG GET` say about keeping
/// Baton's data (issue 9, "Redis as an operator runs it").
public struct RedisDurability: Sendable, Hashable {
    /// The node that answered.
    public var node: String
    public var maxmemoryPolicy: String?
    public var aofEnabled: Bool
    /// Whether RDB snapshots are configured (`nil`: `CONFIG` is refused or renamed here).
    public var rdbSaves: Bool?
    public var appendfsync: String?

    /// Whether this master may delete keys when memory runs out.
    public var mayEvict: Bool { maxmemoryPolicy != "noeviction" }

    /// One line for the log: what a crash of this master would lose.
    public var persistenceSummary: String {
        if aofEnabled {
            switch appendfsync {
            case "always": return "AOF with appendfsync always: an acknowledged submission survives a Redis crash"
            case "no": return "AOF with appendfsync no: a Redis crash may lose the last ~30 s of acknowledged work"
            default: return "AOF with appendfsync \(appendfsync ?? "everysec"): a Redis crash may lose the last second of acknowledged work"
            }
        }
        if rdbSaves == true { return "RDB snapshots only: a Redis crash loses everything since the last snapshot" }
        return "no persistence: a Redis restart loses every tree and submission"
    }

    /// `INFO` text as field → value.
    static func fields(_ info: String?) -> [String: String] {
        var fields: [String: String] = [:]
        for line in (info ?? "").split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
        }
        return fields
    }
}

extension BatonStore {
    /// The durability settings of every master (one for a standalone server). A master that does
    /// not answer `INFO` is left out; `CONFIG` refused (managed Redis) leaves its fields unknown.
    public func redisDurability() async throws -> [RedisDurability] {
        async let memory = redis.sendToEveryMaster(RedisCommand("INFO", "memory"))
        async let persistence = redis.sendToEveryMaster(RedisCommand("INFO", "persistence"))
        async let fsync = redis.sendToEveryMaster(RedisCommand("CONFIG", "GET", "appendfsync"))
        async let save = redis.sendToEveryMaster(RedisCommand("CONFIG", "GET", "save"))
        let (memoryReplies, persistenceReplies, fsyncReplies, saveReplies) = try await (memory, persistence, fsync, save)
        func byNode(_ replies: [(node: String, reply: RedisReply)]) -> [String: RedisReply] {
            Dictionary(replies.map { ($0.node, $0.reply) }) { first, _ in first }
        }
        let persistenceByNode = byNode(persistenceReplies), fsyncByNode = byNode(fsyncReplies), saveByNode = byNode(saveReplies)
        return memoryReplies.compactMap { node, reply in
            guard let memoryText = reply.string, let persistenceText = persistenceByNode[node]?.string else { return nil }
            let fields = RedisDurability.fields(memoryText).merging(RedisDurability.fields(persistenceText)) { first, _ in first }
            func configValue(_ reply: RedisReply?) -> String? {
                guard let values = reply?.array, values.count == 2 else { return nil }
                return values[1].string
            }
            return RedisDurability(
                node: node, maxmemoryPolicy: fields["maxmemory_policy"], aofEnabled: fields["aof_enabled"] == "1",
                rdbSaves: configValue(saveByNode[node]).map { !$0.isEmpty }, appendfsync: configValue(fsyncByNode[node]))
        }
    }
}
