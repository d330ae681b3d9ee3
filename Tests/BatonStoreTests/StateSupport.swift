import BatonCore
import BatonStore
import Foundation
import RedisClient
import Testing

// Reading back a store's whole state, for tests that check "exactly this changed" or
// "nothing changed".

/// Every key of the store's namespace (`SCAN MATCH <ns>:*`), sorted.
func namespaceKeys(_ store: BatonStore) async throws -> [String] {
    var cursor = "0"
    var found = Set<String>()
    repeat {
        let reply = try await store.redis.send("SCAN", cursor, "MATCH", "\(store.keys.namespace):*", "COUNT", "1000")
        guard let parts = reply.array, parts.count == 2 else { break }
        cursor = parts[0].string ?? "0"
        for key in parts[1].array ?? [] { if let key = key.string { found.insert(key) } }
    } while cursor != "0"
    return found.sorted()
}

/// The content of every key of the namespace, rendered as text (type and sorted content).
func keySpace(_ store: BatonStore) async throws -> [String: String] {
    var space: [String: String] = [:]
    for key in try await namespaceKeys(store) {
        space[key] = try await render(store.redis, key)
    }
    return space
}

private func render(_ redis: RedisClient, _ key: String) async throws -> String {
    let type = try await redis.send("TYPE", key).string ?? "?"
    switch type {
    case "hash":
        let fields = try await redis.send("HGETALL", key).stringDictionary ?? [:]
        return "hash " + fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "|")
    case "zset":
        let items = (try await redis.send("ZRANGE", key, "0", "-1", "WITHSCORES").array ?? []).map { $0.string ?? "" }
        return "zset " + items.joined(separator: "|")
    case "set":
        let items = (try await redis.send("SMEMBERS", key).array ?? []).compactMap(\.string).sorted()
        return "set " + items.joined(separator: "|")
    case "list":
        let items = (try await redis.send("LRANGE", key, "0", "-1").array ?? []).compactMap(\.string)
        return "list " + items.joined(separator: "|")
    case "stream":
        let entries = try await streamEntries(redis, key)
        return "stream " + entries.map { "\($0.id):" + $0.fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") }
            .joined(separator: "|")
    default:
        return "\(type) " + (try await redis.send("GET", key).string ?? "")
    }
}

/// One entry of a stream.
struct StreamEntry: Sendable {
    var id: String
    var fields: [String: String]
    var type: String { fields["type"] ?? "" }
    var taskID: String { fields["task_id"] ?? "" }
}

func streamEntries(_ redis: RedisClient, _ key: String) async throws -> [StreamEntry] {
    (try await redis.send("XRANGE", key, "-", "+").array ?? []).compactMap { entry in
        guard let parts = entry.array, parts.count == 2, let id = parts[0].string else { return nil }
        return StreamEntry(id: id, fields: parts[1].stringDictionary ?? [:])
    }
}

/// The events of a tree, oldest first.
func events(_ store: BatonStore, _ treeID: String) async throws -> [StreamEntry] {
    try await streamEntries(store.redis, store.keys.treeEvents(treeID))
}

/// A hash as a dictionary.
func hash(_ store: BatonStore, _ key: String) async throws -> [String: String] {
    try await store.redis.send("HGETALL", key).stringDictionary ?? [:]
}

/// A task's raw hash.
func taskHash(_ store: BatonStore, _ treeID: String, _ taskID: String) async throws -> [String: String] {
    try await hash(store, store.keys.task(treeID, taskID))
}

/// A sorted set as (member, score) pairs, lowest score first.
func zset(_ store: BatonStore, _ key: String) async throws -> [(member: String, score: Int64)] {
    let items = (try await store.redis.send("ZRANGE", key, "0", "-1", "WITHSCORES").array ?? []).map { $0.string ?? "" }
    return stride(from: 0, to: items.count - 1, by: 2).map { (items[$0], Int64(Double(items[$0 + 1]) ?? -1)) }
}

/// Members of a sorted set, lowest score first.
func members(_ store: BatonStore, _ key: String) async throws -> [String] {
    try await zset(store, key).map(\.member)
}

/// `priority·2^32 + sequence`, the score of a ready task.
func readyScore(priority: Int64, sequence: Int64) -> Int64 { (priority << 32) + sequence }

/// Claims every ready task of an executor and starts it, as an agent does.
func claimAndStart(_ store: BatonStore, executor: String, count: Int = 1000, leaseMillis: Int = 10_000) async throws -> [StartedTask] {
    let claimed = try await store.claim(executor: executor, count: count, leaseMillis: leaseMillis)
    return try await store.start(claimed, executor: executor)
}

/// The error a throwing call raised, when it is a ``BatonError``.
func batonError(_ body: () async throws -> Void) async -> BatonError? {
    do {
        try await body()
        return nil
    } catch let error as BatonError {
        return error
    } catch {
        Issue.record("expected a BatonError, got \(error)")
        return nil
    }
}

/// Keys whose content differs between two key spaces (added, removed or changed).
func changedKeys(_ before: [String: String], _ after: [String: String]) -> Set<String> {
    Set(before.keys).union(after.keys).filter { before[$0] != after[$0] }
}

/// Records every difference between two key spaces as an issue.
func expectUnchanged(_ before: [String: String], _ after: [String: String], ignoring: Set<String> = [],
                     sourceLocation: SourceLocation = #_sourceLocation) {
    for key in changedKeys(before, after).subtracting(ignoring).sorted() {
        Issue.record("\(key) changed:\n  before \(before[key] ?? "<absent>")\n  after  \(after[key] ?? "<absent>")",
                     sourceLocation: sourceLocation)
    }
}

/// The store's queue calls on shard 0 of an executor type's queue, the only shard these tests'
/// stores have (``Keys/queueShards`` empty).
extension BatonStore {
    func claim(executor: String, count: Int, leaseMillis: Int) async throws -> [(treeID: String, taskID: String)] {
        try await claim(ExecutorQueue(executor: executor), count: count, leaseMillis: leaseMillis)
    }

    func start(_ claimed: [(treeID: String, taskID: String)], executor: String) async throws -> [StartedTask] {
        try await start(claimed, from: ExecutorQueue(executor: executor))
    }

    func heartbeat(executor: String, members: [String], leaseMillis: Int) async throws -> HeartbeatOutcome {
        try await heartbeat(ExecutorQueue(executor: executor), members: members, leaseMillis: leaseMillis)
    }

    func reapExpiredLeases(executor: String, limit: Int = 500, holdMillis: Int) async throws -> [Report] {
        try await reapExpiredLeases(ExecutorQueue(executor: executor), limit: limit, holdMillis: holdMillis)
    }
}
