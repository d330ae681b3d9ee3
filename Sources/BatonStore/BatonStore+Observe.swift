import BatonCore
import Foundation
import RedisClient

/// Why a pending task is not running (`waiting` on `GET /v1/tasks/{id}` and on every task of
/// `GET /v1/trees/{id}`), computed from the records: the tree, the task's engine fields, its
/// queue and the live agents.
public struct Waiting: Sendable, Hashable {
    public enum Reason: String, Sendable, Hashable {
        /// The tree is stored but was never executed.
        case notStarted = "not_started"
        /// Dependencies have not all resolved (``unmet``).
        case dependencies
        /// A required dependency failed or was cancelled (``blockedBy``).
        case blocked
        /// Ready, in its executor queue (``position``, ``ahead``).
        case queued
        /// Ready, but no live agent serves its executor type (``executor``).
        case noAgent = "no_agent"
        /// Failed and waiting for its retry (``retryAt``).
        case retryBackoff = "retry_backoff"
        /// Ready, but held back by a limit of its executor type (``limit``, ``limitValue``, ``inUse``).
        case throttled
    }

    /// A dependency that has not resolved yet, with its status (`unknown` when it cannot be read).
    public struct Unmet: Sendable, Hashable {
        public var id: String
        public var status: String
    }

    public var reason: Reason
    public var unmet: [Unmet] = []
    public var blockedBy: String?
    /// 1-based place in its queue shard; `nil` when the task is between queues (being claimed).
    public var position: Int?
    /// Tasks ahead of it, of higher or equal priority.
    public var ahead: Int?
    public var executor: String?
    /// Epoch ms.
    public var retryAt: Int64?
    /// The configuration key of the limit that holds a throttled task back
    /// (`executors.<type>.max_running` or `executors.<type>.max_running_per_key`).
    public var limit: String?
    /// That limit's value, and how much of it is used now.
    public var limitValue: Int?
    public var inUse: Int?
    /// The throttled task's concurrency key, for a per-key limit.
    public var concurrencyKey: String?
    /// When a tree not started yet starts by itself (`run_at`, RFC 3339).
    public var runAt: String?

    public var jsonValue: JSONValue {
        var object: [String: JSONValue] = ["reason": .string(reason.rawValue)]
        switch reason {
        case .dependencies:
            object["unmet"] = .array(unmet.map { ["id": .string($0.id), "status": .string($0.status)] })
        case .blocked:
            object["blocked_by"] = blockedBy.map(JSONValue.string) ?? .null
        case .queued:
            object["position"] = position.map(JSONValue.int) ?? .null
            object["ahead"] = ahead.map(JSONValue.int) ?? .null
            object["executor"] = executor.map(JSONValue.string) ?? .null
        case .noAgent:
            object["executor"] = executor.map(JSONValue.string) ?? .null
        case .retryBackoff:
            object["retry_at"] = retryAt.map { .string(Timestamp.rfc3339(millis: $0)) } ?? .null
        case .throttled:
            object["limit"] = limit.map(JSONValue.string) ?? .null
            object["max"] = limitValue.map(JSONValue.int) ?? .null
            object["running"] = inUse.map(JSONValue.int) ?? .null
            object["executor"] = executor.map(JSONValue.string) ?? .null
            if let concurrencyKey { object["concurrency_key"] = .string(concurrencyKey) }
            if let position { object["position"] = .int(position) }
        case .notStarted:
            if let runAt { object["run_at"] = .string(runAt) }
        }
        return .object(object)
    }
}

/// One executor type's queues and agents (`GET /v1/executors`).
public struct ExecutorSummary: Sendable, Hashable {
    public var executor: String
    /// Ready tasks by priority 0…3.
    public var ready: [Int]
    public var running: Int
    public var delayed: Int
    public var agents: Int
    public var freeSlots: Int
    public var completedLastMinute: Int
    public var failedLastMinute: Int
    /// How long the oldest ready task has been ready, in ms (`nil`: none ready).
    public var oldestReadyAgeMillis: Int64?
    /// The type's published limits and their use (`admission` in JSON).
    public var admission = AdmissionState(running: 0, held: 0, throttledClaims: 0)

    public var jsonValue: JSONValue {
        [
            "executor": .string(executor),
            "ready": .object(Dictionary(uniqueKeysWithValues: ready.enumerated().map { (String($0.offset), JSONValue.int($0.element)) })),
            "ready_total": .int(ready.reduce(0, +)), "running": .int(running), "delayed": .int(delayed),
            "agents": .int(agents), "free_slots": .int(freeSlots),
            "completed_last_minute": .int(completedLastMinute), "failed_last_minute": .int(failedLastMinute),
            "oldest_ready_age_s": oldestReadyAgeMillis.map { .double(Double($0) / 1000) } ?? .null,
            "admission": admission.jsonValue,
        ]
    }
}

/// One page of a tree listing, newest first.
public struct TreePage: Sendable, Hashable {
    public var trees: [TreeRecord]
    public var nextCursor: String?
}

extension BatonStore {
    // MARK: Why a task waits

    /// A tree with every task and, for each pending task, why it waits.
    /// - Throws: as ``tree(_:userID:)``.
    public func treeWithWaiting(_ treeID: String, userID: String?) async throws -> (TreeSnapshot, [String: Waiting]) {
        let record = try await readableTreeRecord(treeID, userID: userID)
        let ids = try await taskIDs(ofTree: treeID)
        let hashes = try await taskHashes(ids, inTree: treeID)
        let snapshot = TreeSnapshot(tree: record, tasks: try await resolvingLinks(hashes))
        return (snapshot, try await waiting(tree: record, hashes: hashes, agents: try await agents()))
    }

    /// A task (as ``task(_:userID:)`` reads it) and, when it is pending, why it waits: its hash
    /// is read once for both.
    public func taskWithWaiting(_ taskID: String, userID: String?) async throws -> (TaskRecord, Waiting?) {
        let (record, hash) = try await taskAndHash(taskID, userID: userID)
        guard record.status == .pending else { return (record, nil) }
        let tree = try await treeRecord(record.treeID, userID: nil)
        return (record, try await waiting(tree: tree, hashes: [hash], agents: try await agents())[taskID])
    }

    /// Why each pending task of `hashes` (raw task hashes of `tree`) waits. One pipeline for the
    /// statuses of dependencies in other trees, one for the queue ranks.
    func waiting(tree: TreeRecord, hashes: [[String: String]], agents: [AgentRecord]) async throws -> [String: Waiting] {
        let statusByID = Dictionary(hashes.compactMap { hash in hash["id"].map { ($0, hash["status"] ?? "pending") } }) { first, _ in first }
        let served = Set(agents.flatMap(\.executors))
        let now = clock()
        var result: [String: Waiting] = [:]
        var external: [(task: String, dependency: String)] = []
        var queued: [(task: String, executor: String, key: String?)] = []
        for hash in hashes {
            guard let id = hash["id"], (hash["status"] ?? "pending") == "pending" else { continue }
            if !tree.started {
                result[id] = Waiting(reason: .notStarted, runAt: tree.runAt)
            } else if let cause = hash["blocked_by"] {
                result[id] = Waiting(reason: .blocked, blockedBy: cause)
            } else if let retryAt = hash["retry_at"].flatMap({ Int64($0) }), retryAt > now {
                result[id] = Waiting(reason: .retryBackoff, retryAt: retryAt)
            } else if (hash["waiting"].flatMap { Int($0) } ?? 0) > 0 {
                // (A due retry keeps its `retry_at` until it starts: it is queued again by now.)
                var waiting = Waiting(reason: .dependencies)
                for (dependency, required) in Self.dependencies(hash) {
                    if let status = statusByID[dependency] ?? hash["xs:\(dependency)"] {
                        if !Self.resolves(status, required: required) { waiting.unmet.append(.init(id: dependency, status: status)) }
                    } else {
                        external.append((id, dependency))
                    }
                }
                result[id] = waiting
            } else {
                let executor = hash["executor"] ?? ""
                if served.contains(executor) {
                    queued.append((id, executor, hash["concurrency_key"]))
                } else {
                    result[id] = Waiting(reason: .noAgent, executor: executor)
                }
            }
        }
        // Dependencies in other trees not resolved yet: their current status.
        if !external.isEmpty {
            // Two pipelines whatever their number: their trees from the id index, then their statuses.
            let dependencies = Array(Set(external.map(\.dependency)))
            let owners = try await treeIDs(ofTasks: dependencies)
            let located = zip(dependencies, owners).compactMap { dependency, owner in
                owner.flatMap { Identifier.isValid($0) ? (dependency, $0) : nil }
            }
            let found = try await redis.pipeline(located.map { RedisCommand("HGET", keys.task($0.1, $0.0), "status") })
            var statuses: [String: String] = [:]
            for ((dependency, _), status) in zip(located, found) { statuses[dependency] = status.string }
            for (task, dependency) in external {
                result[task]?.unmet.append(.init(id: dependency, status: statuses[dependency] ?? "unknown"))
            }
        }
        // Queued: the rank in the task's queue shard is how many tasks are ahead.
        if !queued.isEmpty {
            var ranks: [RedisReply] = []
            var start = 0
            while start < queued.count {
                let chunk = queued[start..<min(start + 1000, queued.count)]
                ranks += try await redis.pipeline(chunk.map {
                    RedisCommand("ZRANK", keys.ready(keys.queue($0.executor, tree: tree.id, task: $0.task)),
                                 Keys.member(tree: tree.id, task: $0.task))
                })
                start += chunk.count
            }
            let limits = try await queueLimits(Set(queued.map { keys.queue($0.executor, tree: tree.id, task: $0.task) }))
            // A task out of ready with a concurrency key may be held for its key.
            let heldChecks = zip(queued, ranks).filter { $0.1.int == nil && $0.0.key != nil }.map(\.0)
            let held = try await redis.pipeline(heldChecks.flatMap { item -> [RedisCommand] in
                let queue = keys.queue(item.executor, tree: tree.id, task: item.task)
                return [RedisCommand("ZSCORE", keys.held(queue, key: item.key!), Keys.member(tree: tree.id, task: item.task)),
                        RedisCommand("HGET", keys.keyUse(queue), item.key!)]
            })
            var heldUse: [String: Int] = [:]
            for (index, item) in heldChecks.enumerated() where held[2 * index].string != nil {
                heldUse[item.task] = held[2 * index + 1].string.flatMap { Int($0) } ?? 0
            }
            for ((task, executor, key), rank) in zip(queued, ranks) {
                let ahead = rank.int
                let queueLimits = limits[keys.queue(executor, tree: tree.id, task: task)]
                if let use = heldUse[task] {
                    result[task] = Waiting(
                        reason: .throttled, executor: executor, limit: "executors.\(executor).max_running_per_key",
                        limitValue: queueLimits?.perKey, inUse: use, concurrencyKey: key)
                } else if let ahead, let max = queueLimits?.maxRunning, let running = queueLimits?.running, running >= max {
                    result[task] = Waiting(
                        reason: .throttled, position: ahead + 1, ahead: ahead, executor: executor,
                        limit: "executors.\(executor).max_running", limitValue: max, inUse: running)
                } else {
                    result[task] = Waiting(reason: .queued, position: ahead.map { $0 + 1 }, ahead: ahead, executor: executor)
                }
            }
        }
        return result
    }

    /// The published limits of queue shards and their leases now.
    func queueLimits(_ queues: Set<ExecutorQueue>) async throws -> [ExecutorQueue: (maxRunning: Int?, perKey: Int?, running: Int)] {
        let ordered = queues.sorted()
        let replies = try await redis.pipeline(ordered.flatMap {
            [RedisCommand("HMGET", keys.admission($0), "max_running", "max_running_per_key"), RedisCommand("ZCARD", keys.leases($0))]
        })
        var limits: [ExecutorQueue: (maxRunning: Int?, perKey: Int?, running: Int)] = [:]
        for (index, queue) in ordered.enumerated() {
            let fields = replies[2 * index].array?.map { $0.string.flatMap { Int($0) } } ?? []
            limits[queue] = (fields.first ?? nil, fields.count > 1 ? fields[1] : nil, replies[2 * index + 1].int ?? 0)
        }
        return limits
    }

    /// The dependencies a task hash names (JSON `[{"id", "required"}]`).
    static func dependencies(_ hash: [String: String]) -> [(id: String, required: Bool)] {
        guard let text = hash["dependencies"], let items = (try? JSONValue(parsing: text))?.arrayValue else { return [] }
        return items.compactMap { item in item["id"]?.stringValue.map { ($0, item["required"]?.boolValue ?? true) } }
    }

    /// Whether a dependency in `status` no longer holds its dependent back: completed, or final
    /// when it is optional (SPEC "Readiness").
    static func resolves(_ status: String, required: Bool) -> Bool {
        status == TaskStatus.completed.rawValue
            || (!required && [TaskStatus.failed.rawValue, TaskStatus.cancelled.rawValue].contains(status))
    }

    // MARK: Executors

    /// Every executor type an agent serves now or served lately, with its queues and agents.
    public func executorSummaries() async throws -> [ExecutorSummary] {
        let live = try await agents()
        let types = Set(try await executorTypes()).union(live.flatMap(\.executors)).sorted()
        let band = Int64(1) << 32
        var summaries: [ExecutorSummary] = []
        let now = clock()
        for executor in types {
            var summary = ExecutorSummary(
                executor: executor, ready: [0, 0, 0, 0], running: 0, delayed: 0, agents: 0, freeSlots: 0,
                completedLastMinute: 0, failedLastMinute: 0)
            var heads: [String] = []
            for queue in keys.queues(of: executor) {
                var commands: [RedisCommand] = (0..<4).map { priority in
                    RedisCommand("ZCOUNT", keys.ready(queue), String(Int64(priority) * band), "(\(Int64(priority + 1) * band)")
                }
                commands += (0..<4).map { priority in
                    RedisCommand("ZRANGEBYSCORE", keys.ready(queue), String(Int64(priority) * band), "(\(Int64(priority + 1) * band)",
                                 "LIMIT", "0", "1")
                }
                commands += [RedisCommand("ZCARD", keys.leases(queue)), RedisCommand("ZCARD", keys.delayed(queue))]
                let replies = try await redis.pipeline(commands)
                for priority in 0..<4 { summary.ready[priority] += replies[priority].int ?? 0 }
                heads += replies[4..<8].compactMap { $0.array?.first?.string }
                summary.running += replies[8].int ?? 0
                summary.delayed += replies[9].int ?? 0
            }
            // The first task of each priority band is the oldest of its band: the oldest of those.
            let members = heads.compactMap(Keys.parseMember)
            if !members.isEmpty {
                // Ready since its last change (`updated_at`), or since it was created when ready at once.
                let since = try await redis.pipeline(members.map {
                    RedisCommand("HMGET", keys.task($0.tree, $0.task), "updated_at", "created_at")
                })
                let times = since.compactMap { reply in reply.array?.lazy.compactMap { $0.string.flatMap { Int64($0) } }.first }
                if let oldest = times.min() {
                    summary.oldestReadyAgeMillis = max(0, now - oldest)
                }
            }
            summary.admission = try await admissionState(of: executor)
            for agent in live where agent.executors.contains(executor) {
                summary.agents += 1
                summary.freeSlots += agent.free
                summary.completedLastMinute += agent.lastMinute[executor]?["completed"] ?? 0
                summary.failedLastMinute += agent.lastMinute[executor]?["failed"] ?? 0
            }
            summaries.append(summary)
        }
        return summaries
    }

    // MARK: Trees

    /// The caller's trees (every user's for an admin, `userID == nil`), newest first, `limit` at
    /// a time, optionally only those with `status`. The cursor names the last tree of the page
    /// before: trees created meanwhile do not shift the pages.
    public func listTrees(userID: String?, status: String? = nil, limit: Int = 50, cursor: String? = nil) async throws -> TreePage {
        let limit = max(1, min(limit, 1000))
        let position = try Cursor(cursor)
        let index = userID.map { keys.userTrees($0) } ?? keys.allTrees
        var start = 0
        if let after = position.treeID {
            guard let rank = try await redis.send("ZREVRANK", index, after).int else {
                throw BatonError.invalidArgument("cursor names a tree that is no longer listed; start again without it", field: "cursor")
            }
            start = rank + 1
        }
        var page: [TreeRecord] = []
        while page.count < limit {
            let ids = (try await redis.send("ZREVRANGE", index, String(start), String(start + 199)).array ?? []).compactMap(\.string)
            if ids.isEmpty { return TreePage(trees: page, nextCursor: nil) }
            let hashes = try await redis.pipeline(ids.map { RedisCommand("HGETALL", keys.tree($0)) })
            for (offset, hash) in hashes.enumerated() {
                guard let record = hash.stringDictionary.flatMap(TreeRecord.init(hash:)),
                      status.map({ $0 == record.status }) ?? true else { continue }
                page.append(record)
                if page.count == limit {
                    let more = start + offset + 1 < (try await redis.send("ZCARD", index).int ?? 0)
                    return TreePage(trees: page, nextCursor: more ? Cursor(treeID: ids[offset], offset: 0).text : nil)
                }
            }
            start += ids.count
        }
        return TreePage(trees: page, nextCursor: nil)
    }
}
