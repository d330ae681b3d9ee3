import BatonStore
import Foundation
import RedisClient
import Testing

/// Every key of a store's namespace exactly as Redis holds it, for tests that check that a
/// refused call changed nothing: per key its type, its time to live, its whole content as raw
/// replies (hash fields and zset members in stored order, stream entries and the stream's
/// metadata) and its `DUMP` serialisation. Two snapshots are equal only when the key spaces are
/// byte-identical.
struct KeySpaceSnapshot: Equatable {
    /// One key.
    struct Entry: Equatable {
        /// `TYPE`: string, hash, zset, set, list, stream.
        var type: String
        /// `PTTL`: -1 without expiry.
        var ttl: Int
        /// The content, read with the type's own commands (raw bytes, order kept).
        var content: [RedisReply]
        /// `DUMP`: Redis's serialisation of the value (encoding, stream ids and counters included).
        var dump: [UInt8]
    }

    /// The keys, by name.
    var entries: [String: Entry]

    /// Reads every key of the store's namespace (`SCAN MATCH <ns>:*`).
    init(_ store: BatonStore) async throws {
        var entries: [String: Entry] = [:]
        for key in try await namespaceKeys(store) {
            entries[key] = try await Self.entry(store.redis, key)
        }
        self.entries = entries
    }

    /// What differs from `earlier`, one line per key (empty when identical).
    func differences(from earlier: KeySpaceSnapshot) -> [String] {
        Set(earlier.entries.keys).union(entries.keys).sorted().compactMap { key in
            let (before, after) = (earlier.entries[key], entries[key])
            if before == after { return nil }
            return "\(key):\n  before \(before.map(Self.render) ?? "<absent>")\n  after  \(after.map(Self.render) ?? "<absent>")"
        }
    }

    private static func entry(_ redis: RedisClient, _ key: String) async throws -> Entry {
        let replies = try await redis.pipeline([RedisCommand("TYPE", key), RedisCommand("PTTL", key), RedisCommand("DUMP", key)])
        let type = replies[0].string ?? "?"
        let content: [RedisCommand] = switch type {
        case "string": [RedisCommand("GET", key)]
        case "hash": [RedisCommand("HGETALL", key)]
        case "zset": [RedisCommand("ZRANGE", key, "0", "-1", "WITHSCORES")]
        case "set": [RedisCommand("SORT", key, "ALPHA")]
        case "list": [RedisCommand("LRANGE", key, "0", "-1")]
        case "stream": [RedisCommand("XRANGE", key, "-", "+"), RedisCommand("XINFO", "STREAM", key), RedisCommand("XINFO", "GROUPS", key)]
        default: []
        }
        return Entry(type: type, ttl: replies[1].int ?? -3, content: try await redis.pipeline(content), dump: replies[2].bytes ?? [])
    }

    private static func render(_ entry: Entry) -> String {
        let ttl = entry.ttl == -1 ? "" : " ttl=\(entry.ttl)"
        return "\(entry.type)\(ttl) \(entry.content.map(render).joined(separator: " ")) (dump \(entry.dump.count) bytes)"
    }

    private static func render(_ reply: RedisReply) -> String {
        switch reply {
        case .array(let items): "[" + items.map(render).joined(separator: ", ") + "]"
        case .null: "nil"
        case .error(let message): "error(\(message))"
        default: reply.string.map { "\"\($0)\"" } ?? "?"
        }
    }
}

/// Records an issue per key that differs from `before` (added, removed or changed in any byte).
func expectKeySpace(
    _ store: BatonStore, unchangedSince before: KeySpaceSnapshot, sourceLocation: SourceLocation = #_sourceLocation
) async throws {
    let after = try await KeySpaceSnapshot(store)
    for difference in after.differences(from: before) {
        Issue.record("key changed by a refused call: \(difference)", sourceLocation: sourceLocation)
    }
}
