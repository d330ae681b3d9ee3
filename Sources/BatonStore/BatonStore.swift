import BatonCore
import Foundation
import Metrics
import RedisClient
import Synchronization

/// Baton's state in Redis: typed calls named after transitions (`submit`, `startTree`, `claim`,
/// `start`, `apply`) and read-only queries (`task`, `tree`, `listTasks`).
///
/// Every state change of a tree is one Lua script on that tree's hash tag; what must cross slots
/// (queues, the id index, dependents in other trees) is done afterwards, idempotently, from the
/// script's outputs (``TreeOutputs``).
public final class BatonStore: Sendable {
    /// The Redis connection pool.
    public let redis: RedisClient
    /// Key names.
    public let keys: Keys
    /// Bound of each tree's event stream (`XADD … MAXLEN ~`).
    public let eventsMaxLength: Int
    /// How long a finished tree is kept (`retention.finished_s`) unless its submission said
    /// otherwise; `nil` keeps finished trees until they are deleted.
    public let retentionMillis: Int64?
    /// The most tasks a tree may hold (`limits.max_tasks_per_tree`).
    public let maxTasksPerTree: Int
    /// The most tasks a read of a whole tree returns (`limits.max_tasks_per_read`).
    public let maxTasksPerRead: Int
    /// The clock every transition reads (epoch milliseconds); injectable for tests.
    public let clock: @Sendable () -> Int64

    public init(
        redis: RedisClient,
        keys: Keys = Keys(),
        eventsMaxLength: Int = 10_000,
        retentionMillis: Int64? = 7 * 86_400_000,
        maxTasksPerTree: Int = 1_000_000,
        maxTasksPerRead: Int = 200_000,
        clock: @escaping @Sendable () -> Int64 = { Timestamp.millis(Date()) }
    ) {
        self.redis = redis
        self.keys = keys
        self.eventsMaxLength = eventsMaxLength
        self.retentionMillis = retentionMillis
        self.maxTasksPerTree = maxTasksPerTree
        self.maxTasksPerRead = maxTasksPerRead
        self.clock = clock
    }

    // MARK: Script plumbing

    /// The ARGV every tree-scoped script starts with.
    func treeArguments(_ treeID: String, now: Int64) -> [String] {
        [String(now), String(eventsMaxLength), keys.treeChannel(treeID), treeID]
    }

    /// A call of a tree-scoped script.
    func treeCall(_ script: TreeScript, _ treeID: String, now: Int64, _ more: [String]) -> RedisScriptCall {
        RedisScriptCall(script.script, keys: script.keys(keys, tree: treeID), arguments: treeArguments(treeID, now: now) + more)
    }

    /// Turns an error reply of a script into Baton's error vocabulary.
    static func scriptError(_ reply: RedisReply, operation: String) -> BatonError? {
        guard let message = reply.errorMessage else { return nil }
        if let error = BatonError(scriptError: message) { return error.during(operation) }
        // Redis refusing for its own state (full, busy, loading, a replica): nothing was written
        // (a script is refused for lack of memory before its first write) — retry later.
        let word = message.prefix { $0 != " " }
        if Self.unavailableReplies.contains(String(word)) {
            let reason = word == "OOM" ? "Redis is out of memory (maxmemory reached)" : "Redis is not accepting writes now"
            return BatonError.unavailable("\(reason): \(message)").during(operation)
        }
        return BatonError.internal("\(operation): \(message)")
    }

    /// Error replies that mean "Redis cannot do it now", not "Baton has a bug".
    static let unavailableReplies: Set<String> = ["OOM", "BUSY", "LOADING", "MASTERDOWN", "READONLY", "NOREPLICAS", "CLUSTERDOWN", "TRYAGAIN"]

    /// Runs script calls in one round trip and throws the first script error.
    func run(_ calls: [RedisScriptCall], operation: String, timeout: Duration? = nil) async throws -> [RedisReply] {
        let replies = try await evalPipeline(calls, operation: operation, timeout: timeout)
        for reply in replies {
            if let error = Self.scriptError(reply, operation: operation) { throw error }
        }
        return replies
    }

    /// Script calls in one round trip, timed as `baton_redis_script_duration_seconds{operation}`;
    /// a failure to reach Redis and every error reply count in `baton_redis_errors_total{operation}`.
    func evalPipeline(_ calls: [RedisScriptCall], operation: String, timeout: Duration? = nil) async throws -> [RedisReply] {
        try await evalPipeline(calls, alsoSending: [], operation: operation, timeout: timeout).scripts
    }

    /// ``evalPipeline(_:operation:timeout:)`` with plain commands in the same round trip.
    func evalPipeline(
        _ calls: [RedisScriptCall], alsoSending plain: [RedisCommand], operation: String, timeout: Duration? = nil
    ) async throws -> (scripts: [RedisReply], plain: [RedisReply]) {
        let started = ContinuousClock.now
        let replies: (scripts: [RedisReply], plain: [RedisReply])
        do {
            replies = try await redis.evalPipeline(calls, alsoSending: plain, timeout: timeout)
        } catch {
            StoreMetrics.redisErrors(operation).increment()
            throw error
        }
        StoreMetrics.scriptDuration(operation).recordInterval(ContinuousClock.now - started)
        let errors = replies.scripts.count { $0.errorMessage != nil } + replies.plain.count { $0.errorMessage != nil }
        if errors > 0 { StoreMetrics.redisErrors(operation).increment(by: errors) }
        return replies
    }

    // MARK: Lookups

    /// The tree that holds a task, from the id index.
    public func treeID(ofTask taskID: String) async throws -> String? {
        try await redis.send("HGET", keys.idIndex(for: taskID), taskID).string
    }

    /// The trees of several tasks, in one round trip (nil where unknown).
    public func treeIDs(ofTasks taskIDs: [String]) async throws -> [String?] {
        let replies = try await redis.pipeline(taskIDs.map { RedisCommand("HGET", keys.idIndex(for: $0), $0) })
        return replies.map { $0.string }
    }
}
