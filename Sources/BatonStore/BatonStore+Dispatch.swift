import BatonCore
import RedisClient

extension BatonStore {
    /// Does the cross-slot part of tree transitions: queues ready tasks, parks retries, drops
    /// leases and passes states on to dependents in other trees (whose own outputs are handled
    /// in the next round). Every step is idempotent, so a repeated dispatch is harmless.
    ///
    /// - Parameters:
    ///   - extra: plain commands to send with the first round (same round trip).
    ///   - claiming: an agent applying its own reports claims up to this many tasks of these
    ///     queue shards in the first round's enqueue call, with leases of `leaseMillis`: the
    ///     released task it can run next costs no wake-up and no claim round trip.
    /// - Returns: the claimed tasks by queue shard, best first (each now leased to the caller).
    @discardableResult
    public func dispatch(
        _ outputs: TreeOutputs, now: Int64, alsoSending extra: [RedisCommand] = [],
        claiming: [ExecutorQueue: Int] = [:], leaseMillis: Int = 0
    ) async throws -> [ExecutorQueue: [(treeID: String, taskID: String)]] {
        var claimed: [ExecutorQueue: [(treeID: String, taskID: String)]] = [:]
        var claiming = claiming.filter { $0.value > 0 }
        var pending = outputs
        var rounds = 0
        var extra = extra
        // Finished trees with a retention are indexed for the sweep (``sweepExpiredTrees(limit:)``).
        let expiring = outputs.finished.compactMap { finished in finished.expiresAt.map { (finished.treeID, $0) } }
        if !expiring.isEmpty {
            var zadd = RedisCommand("ZADD", keys.expiringTrees)
            for (treeID, expiresAt) in expiring {
                zadd.append(String(expiresAt))
                zadd.append(treeID)
            }
            extra.append(zadd)
        }
        while (!pending.isEmpty || !extra.isEmpty) && rounds < 64 {
            rounds += 1
            var commands: [RedisCommand] = extra
            extra = []
            for (queue, items) in Dictionary(grouping: pending.delayed, by: { keys.queue($0.ready.executor, tree: $0.ready.treeID, task: $0.ready.taskID) }) {
                var zadd = RedisCommand("ZADD", keys.delayed(queue))
                for item in items {
                    zadd.append(String(item.dueMillis))
                    zadd.append(Keys.delayedMember(item.ready))
                }
                commands.append(zadd)
            }
            let enqueues = enqueueCallsByQueue(pending.ready, ending: pending.leases, claiming: claiming, now: now, leaseMillis: leaseMillis)
            claiming = [:]
            var calls = enqueues.map(\.call)
            let notified = Dictionary(grouping: pending.notifications, by: \.treeID)
            let notifiedTrees = Array(notified.keys)
            for treeID in notifiedTrees {
                var arguments: [String] = []
                for n in notified[treeID] ?? [] {
                    arguments += [n.taskID, n.dependencyID, n.required ? "1" : "0", n.state, n.result, n.cause]
                }
                calls.append(treeCall(.resolveDependency, treeID, now: now, arguments))
            }

            // The plain commands ride in the same round trip (their error replies are counted in
            // the metrics, and ignored here as they always were).
            let replies = try await evalPipeline(calls, alsoSending: commands, operation: "dispatch").scripts
            for reply in replies {
                if let error = Self.scriptError(reply, operation: "dispatch") { throw error }
            }

            for ((queue, _), reply) in zip(enqueues, replies) {
                let members = (reply.array ?? []).dropFirst().compactMap { $0.string.flatMap(Keys.parseMember) }
                if !members.isEmpty { claimed[queue, default: []] += members.map { ($0.tree, $0.task) } }
            }
            var next = TreeOutputs()
            for (treeID, reply) in zip(notifiedTrees, replies.suffix(notifiedTrees.count)) {
                next.merge(TreeOutputs(reply: reply, treeID: treeID))
            }
            next.finished = []
            pending = next
        }
        return claimed
    }

    /// One `enqueue.lua` call per queue shard: first the attempts that ended (their leases and
    /// cancel requests go), then the tasks that became ready — atomically, so a task queued again
    /// right away cannot lose its next claim's lease to the old attempt's.
    func enqueueCalls(_ ready: [TreeOutputs.Ready], ending leases: [TreeOutputs.Lease] = []) -> [RedisScriptCall] {
        enqueueCallsByQueue(ready, ending: leases).map(\.call)
    }

    /// The calls of ``enqueueCalls(_:ending:)`` with their queue shards; a shard in `claiming`
    /// also claims that many tasks (and gets a call even with nothing to queue).
    /// Tasks queued per `enqueue.lua` call at most.
    static let enqueueSliceTasks = 1_000

    func enqueueCallsByQueue(
        _ ready: [TreeOutputs.Ready], ending leases: [TreeOutputs.Lease],
        claiming: [ExecutorQueue: Int] = [:], now: Int64 = 0, leaseMillis: Int = 0
    ) -> [(queue: ExecutorQueue, call: RedisScriptCall)] {
        let readyByQueue = Dictionary(grouping: ready) { keys.queue($0.executor, tree: $0.treeID, task: $0.taskID) }
        let endedByQueue = Dictionary(grouping: leases) { keys.queue($0.executor, tree: $0.treeID, task: $0.taskID) }
        return Set(readyByQueue.keys).union(endedByQueue.keys).union(claiming.keys).sorted().flatMap { queue in
            // Slices of at most `enqueueSliceTasks` (a big tree's ready tasks are many short
            // calls); the first one ends the leases and claims.
            let ready = readyByQueue[queue] ?? []
            return stride(from: 0, to: max(ready.count, 1), by: Self.enqueueSliceTasks).map { start in
                let first = start == 0
                return (queue, ScriptCall.enqueue(
                    queue, keys: keys,
                    ending: first ? (endedByQueue[queue] ?? []).map { Keys.member(tree: $0.treeID, task: $0.taskID) } : [],
                    ready: Array(ready[start..<min(start + Self.enqueueSliceTasks, ready.count)]),
                    claim: first ? claiming[queue].map { (count: $0, now: now, leaseMillis: leaseMillis) } : nil))
            }
        }
    }
}
