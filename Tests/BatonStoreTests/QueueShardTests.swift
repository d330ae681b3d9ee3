import BatonCore
@testable import BatonStore
import Foundation
import RedisClient
import Testing

/// Issue 10, item 5: a hot executor type spread over `executors.<type>.queue_shards` queues. A
/// task always lives on one shard (its ready entry, lease, retry and cancel request), priority
/// order is strict within a shard, and every service must agree on the counts.
@Suite struct QueueShardTests {
    static let shards = 4

    func shardedStore(clock: TestClock = TestClock()) throws -> BatonStore {
        let base = try makeStore(clock: clock)
        return BatonStore(
            redis: base.redis, keys: Keys(namespace: base.keys.namespace, queueShards: ["x": Self.shards]),
            clock: { clock.now })
    }

    func tree(_ count: Int, priority: (Int) -> Int = { _ in 2 }, extra: String = "") -> String {
        "[" + (0..<count).map { #"{"id": "t\#($0)", "name": "t\#($0)", "executor": "x", "priority": \#(priority($0))\#(extra)}"# }
            .joined(separator: ",") + "]"
    }

    @Test func aShardedTypesTasksSpreadOverItsShardsAndEachRunsOnce() async throws {
        let store = try shardedStore()
        _ = try await store.submit(try submissions(tree(64)), userID: "u")
        var total = 0
        for queue in store.keys.queues(of: "x") {
            let queued = try await members(store, store.keys.ready(queue))
            #expect(!queued.isEmpty, "shard \(queue.shard) got none of 64 tasks")
            for member in queued { #expect(store.keys.queue("x", member: member) == queue) }
            total += queued.count
        }
        #expect(total == 64)
        // An agent claiming from the shards in turn runs every task once.
        var completed = Set<String>()
        for queue in store.keys.queues(of: "x") {
            let started = try await store.start(try await store.claim(queue, count: 100, leaseMillis: 10_000), from: queue)
            #expect(try await members(store, store.keys.leases(queue)).count == started.count, "leases on the claim's shard")
            try await store.apply(started.map { Report.completed($0, result: ["ok": true]) })
            for task in started { #expect(completed.insert(task.taskID).inserted, "\(task.taskID) ran twice") }
        }
        #expect(completed.count == 64)
        #expect(try await store.tree("t0", userID: "u").tree.status == "completed")
        for queue in store.keys.queues(of: "x") {
            #expect(try await members(store, store.keys.leases(queue)).isEmpty, "the completions dropped every lease")
        }
    }

    @Test func priorityIsStrictWithinEachShard() async throws {
        let store = try shardedStore()
        _ = try await store.submit(try submissions(tree(80) { 3 - $0 % 4 }), userID: "u")
        for queue in store.keys.queues(of: "x") {
            var priorities: [Int] = []
            while true {
                let started = try await store.start(try await store.claim(queue, count: 1, leaseMillis: 10_000), from: queue)
                guard let task = started.first else { break }
                let record = try await taskHash(store, task.treeID, task.taskID)
                priorities.append(Int(record["priority"] ?? "") ?? -1)
            }
            #expect(!priorities.isEmpty)
            #expect(priorities == priorities.sorted(), "shard \(queue.shard) ran priorities \(priorities)")
        }
    }

    @Test func aLostLeaseARetryAndACancelStayOnTheTasksShard() async throws {
        let clock = TestClock()
        let store = try shardedStore(clock: clock)
        _ = try await store.submit(try submissions(tree(12, extra: #", "max_attempts": 2"#)), userID: "u")
        // Every task claimed with a short lease; the reaper finds each lease on its own shard.
        var started: [StartedTask] = []
        for queue in store.keys.queues(of: "x") {
            started += try await store.start(try await store.claim(queue, count: 100, leaseMillis: 1_000), from: queue)
        }
        #expect(started.count == 12)
        clock.advance(milliseconds: 2_000)
        var expired: [Report] = []
        for queue in store.keys.queues(of: "x") {
            let reaped = try await store.reapExpiredLeases(queue, holdMillis: 30_000)
            for report in reaped { #expect(store.keys.queue("x", tree: report.treeID, task: report.taskID) == queue) }
            expired += reaped
        }
        #expect(expired.count == 12)
        try await store.apply(expired)
        for queue in store.keys.queues(of: "x") {
            for member in try await members(store, store.keys.ready(queue)) { #expect(store.keys.queue("x", member: member) == queue) }
        }
        // Claimed again: a failure parks the retry on the shard's delayed set, promoted back there.
        var again: [StartedTask] = []
        for queue in store.keys.queues(of: "x") {
            again += try await store.start(try await store.claim(queue, count: 100, leaseMillis: 60_000), from: queue)
        }
        let failing = try #require(again.first)
        let failingQueue = store.keys.queue("x", tree: failing.treeID, task: failing.taskID)
        try await store.apply([Report.failed(failing, error: "boom")])
        let delayed = try await members(store, store.keys.delayed(failingQueue))
        #expect(delayed.count == 1 && delayed[0].hasSuffix("\t" + failing.taskID), "\(delayed)")
        clock.advance(milliseconds: 600_000)
        #expect(try await store.promoteDelayed(executors: ["x"]) == 1)
        #expect(try await members(store, store.keys.ready(failingQueue)) == [Keys.member(tree: failing.treeID, task: failing.taskID)])
        // A running task's cancel request waits in its shard's cancels hash, which that shard's
        // heartbeat reads.
        let running = try #require(again.last)
        let runningQueue = store.keys.queue("x", tree: running.treeID, task: running.taskID)
        _ = try await store.cancel(taskID: running.taskID, userID: "u")
        let member = Keys.member(tree: running.treeID, task: running.taskID)
        let outcome = try await store.heartbeat(runningQueue, members: [member], leaseMillis: 60_000)
        #expect(outcome.cancelRequests == [member: running.attempt])
        #expect(outcome.lost.isEmpty)
    }

    @Test func servicesOfANamespaceMustAgreeOnQueueShards() async throws {
        let store = try shardedStore()
        try await store.checkQueueShards()
        try await store.checkQueueShards()  // idempotent
        #expect(try await hash(store, store.keys.queueShardCounts) == ["x": "4"])
        for other in [["x": 2], [:]] as [[String: Int]] {
            let keys = Keys(namespace: store.keys.namespace, queueShards: other)
            let refused = await #expect(throws: BatonError.self) {
                try await BatonStore(redis: store.redis, keys: keys).checkQueueShards()
            }
            #expect(refused?.code == .conflict && refused?.field == "executors.x.queue_shards", "\(String(describing: refused))")
            #expect(refused?.message.contains("is \(other["x"] ?? 1) here") == true, "\(String(describing: refused))")
        }
        // Another type's count is recorded beside it; the same count for x agrees.
        try await BatonStore(redis: store.redis, keys: Keys(namespace: store.keys.namespace, queueShards: ["x": 4, "y": 3]))
            .checkQueueShards()
        #expect(try await hash(store, store.keys.queueShardCounts) == ["x": "4", "y": "3"])
        #expect(try await hash(store, store.keys.queueShardCounts)["x"] == "4", "nothing changed")
    }
}
