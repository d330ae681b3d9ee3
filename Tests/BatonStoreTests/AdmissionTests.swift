import BatonCore
@testable import BatonStore
import Foundation
import RedisClient
import Testing

/// Issue 14, items 1 and 2: limits enforced by the queue scripts at claim time, and fair shares
/// of one executor type's ready work between users.
@Suite struct AdmissionTests {
    /// `count` independent tasks of executor `x`, ids `<prefix>1…`, with `key` as concurrency key.
    static func items(_ count: Int, prefix: String, key: String? = nil) -> [TaskSubmission] {
        (1...count).map { TaskSubmission(id: "\(prefix)\($0)", name: "\(prefix)\($0)", executor: "x", concurrencyKey: key) }
    }

    func complete(_ store: BatonStore, _ started: [StartedTask]) async throws {
        try await store.apply(started.map { Report.completed($0, result: .null) })
    }

    func claimAndStart(_ store: BatonStore, _ count: Int) async throws -> [StartedTask] {
        try await store.start(try await store.claim(executor: "x", count: count, leaseMillis: 10_000), executor: "x")
    }

    @Test func theTypeLimitHoldsHoweverManyClaim() async throws {
        let store = try makeStore(clock: TestClock())
        try await store.publishAdmission(["x": QueueAdmission(maxRunning: 5)])
        _ = try await store.submit(Self.items(20, prefix: "t"), userID: "u")
        // Four agents with 16 free slots each ask at once: five leases in all.
        let claims = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<4 { group.addTask { try await store.claim(executor: "x", count: 16, leaseMillis: 10_000).count } }
            return try await group.reduce(0, +)
        }
        #expect(claims == 5)
        #expect(try await store.claim(executor: "x", count: 16, leaseMillis: 10_000).isEmpty)
        // At the limit the wake-up marker is down (agents do not spin on a full type).
        #expect(try await store.redis.send("ZCARD", store.keys.marker("x")).int == 0)
        let state = try await store.admissionState(of: "x")
        #expect(state.maxRunning == 5 && state.running == 5 && state.throttledClaims >= 1)

        // Two attempts end: two slots, and the marker is up again.
        let leased = try await store.redis.send("ZRANGE", store.keys.leases("x"), "0", "1").array?.compactMap(\.string) ?? []
        let started = try await store.start(leased.compactMap(Keys.parseMember).map { ($0.tree, $0.task) }, executor: "x")
        try await complete(store, started)
        #expect(try await store.redis.send("ZCARD", store.keys.marker("x")).int == 1)
        #expect(try await store.claim(executor: "x", count: 16, leaseMillis: 10_000).count == 2)
    }

    @Test func aKeyAtItsLimitIsHeldAndAnEndedAttemptFreesItsSlot() async throws {
        let store = try makeStore(clock: TestClock())
        try await store.publishAdmission(["x": QueueAdmission(maxRunningPerKey: 2)])
        _ = try await store.submit(Self.items(5, prefix: "a", key: "acme"), userID: "u")
        _ = try await store.submit(Self.items(1, prefix: "b", key: "beta") + Self.items(1, prefix: "n"), userID: "u")
        let first = try await claimAndStart(store, 10)
        #expect(Set(first.map(\.taskID)) == ["a1", "a2", "b1", "n1"])
        let state = try await store.admissionState(of: "x")
        #expect(state.held == 3 && state.running == 4)
        #expect(try await store.redis.send("HGET", store.keys.keyUse(ExecutorQueue(executor: "x")), "acme").string == "2")
        // Held tasks wait with the limit named and its use.
        try await store.registerAgent(AgentRecord(
            id: "a1", host: "h", pid: 7, version: BatonVersion.current, executors: ["x"], concurrency: 4,
            running: 4, startedAt: store.clock(), lastSeen: store.clock(), lastMinute: [:]))
        let (_, waiting) = try await store.taskWithWaiting("a3", userID: "u")
        #expect(waiting?.reason == .throttled)
        #expect(waiting?.limit == "executors.x.max_running_per_key" && waiting?.limitValue == 2 && waiting?.inUse == 2)
        #expect(try await store.claim(executor: "x", count: 10, leaseMillis: 10_000).isEmpty)

        // One acme attempt ends: exactly one held acme task comes back, the best (a3).
        try await complete(store, first.filter { $0.taskID == "a1" })
        let next = try await claimAndStart(store, 10)
        #expect(next.map(\.taskID) == ["a3"])
        // A replayed ending of the same attempt frees nothing more.
        let replay = ScriptCall.enqueue(ExecutorQueue(executor: "x"), keys: store.keys, ending: [Keys.member(tree: "a1", task: "a1")], ready: [])
        _ = try await store.run([replay], operation: "test")
        #expect(try await store.claim(executor: "x", count: 10, leaseMillis: 10_000).isEmpty)
        #expect(try await store.redis.send("HGET", store.keys.keyUse(ExecutorQueue(executor: "x")), "acme").string == "2")

        // Everything ends: nothing is left counted or held, and no key is left behind.
        try await complete(store, first.filter { $0.taskID != "a1" } + next)
        while true {
            let more = try await claimAndStart(store, 10)
            if more.isEmpty { break }
            try await complete(store, more)
        }
        let queue = ExecutorQueue(executor: "x")
        for key in [store.keys.keyUse(queue), store.keys.heldKeys(queue), store.keys.held(queue, key: "acme"),
                    store.keys.ready(queue), store.keys.leases(queue)] {
            #expect(try await store.redis.send("EXISTS", key).int == 0, "\(key)")
        }
        #expect(try await store.redis.send("HLEN", "\(store.keys.queueTag(queue)):ckeys").int == 0)
    }

    @Test func anExpiredLeaseAndAStaleClaimFreeTheirSlots() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        try await store.publishAdmission(["x": QueueAdmission(maxRunningPerKey: 1)])
        _ = try await store.submit(Self.items(3, prefix: "k", key: "solo"), userID: "u")
        #expect(try await store.claim(executor: "x", count: 5, leaseMillis: 1_000).map(\.taskID) == ["k1"])
        // The agent dies before starting k1: its lease runs out and the reaper's expiry queues it
        // again, freeing the slot.
        clock.advance(milliseconds: 1_001)
        try await store.apply(try await store.reapExpiredLeases(executor: "x", holdMillis: 30_000))
        let again = try await store.claim(executor: "x", count: 5, leaseMillis: 1_000)
        #expect(again.count == 1)
        // A claim whose task was cancelled meanwhile is stale: starting it ends the attempt.
        _ = try await store.cancel(taskID: again[0].taskID, userID: "u")
        #expect(try await store.start(again, executor: "x").isEmpty)
        #expect(try await store.claim(executor: "x", count: 5, leaseMillis: 1_000).count == 1)
    }

    @Test func raisingALimitReleasesHeldTasks() async throws {
        let store = try makeStore(clock: TestClock())
        try await store.publishAdmission(["x": QueueAdmission(maxRunningPerKey: 1)])
        _ = try await store.submit(Self.items(4, prefix: "r", key: "k"), userID: "u")
        #expect(try await store.claim(executor: "x", count: 5, leaseMillis: 10_000).count == 1)
        #expect(try await store.admissionState(of: "x").held == 3)
        try await store.publishAdmission(["x": QueueAdmission(maxRunningPerKey: 3)])
        #expect(try await store.claim(executor: "x", count: 5, leaseMillis: 10_000).count == 2)
        try await store.publishAdmission(["x": QueueAdmission()])
        #expect(try await store.claim(executor: "x", count: 5, leaseMillis: 10_000).count == 1)
        let state = try await store.admissionState(of: "x")
        #expect(state.running == 4 && state.held == 0 && state.maxRunningPerKey == nil)
    }

    @Test func weightedUsersShareADeepBacklog() async throws {
        let store = try makeStore(clock: TestClock())
        try await store.publishAdmission(["x": QueueAdmission(weights: ["alice": 3, "bob": 2, "carol": 1])])
        // Each user queues 1,200 tasks, one user after the other (FIFO alone would serve alice only).
        for user in ["alice", "bob", "carol"] {
            _ = try await store.submit(Self.items(1_200, prefix: "\(user)-"), userID: user)
        }
        var claims: [String: Int] = [:]
        for _ in 0..<60 {
            for claimed in try await store.claim(executor: "x", count: 10, leaseMillis: 10_000) {
                claims[String(claimed.taskID.prefix { $0 != "-" }), default: 0] += 1
            }
        }
        // 600 claims: 300 / 200 / 100 expected, each within ±10 %.
        for (user, expected) in [("alice", 300.0), ("bob", 200.0), ("carol", 100.0)] {
            let got = Double(claims[user] ?? 0)
            #expect(abs(got - expected) <= expected * 0.1, "\(user): \(got) claims, \(expected) expected")
        }
    }

    @Test func aSingleTaskIsNotQueuedBehindAnotherUsersBacklog() async throws {
        let store = try makeStore(clock: TestClock())
        // 100,000 tasks of `bulk` queued (written straight to the queue: the submission path is
        // measured elsewhere), then one task of `solo`.
        let queue = ExecutorQueue(executor: "x")
        for start in stride(from: 0, to: 100_000, by: 1_000) {
            let ready = (start..<start + 1_000).map {
                TreeOutputs.Ready(treeID: "bulk", taskID: "b\($0)", executor: "x", priority: 2, userID: "bulk")
            }
            _ = try await store.run([ScriptCall.enqueue(queue, keys: store.keys, ending: [], ready: ready)], operation: "test")
        }
        #expect(try await store.claim(executor: "x", count: 3, leaseMillis: 10_000).count == 3)
        _ = try await store.submit(Self.items(1, prefix: "solo"), userID: "solo")
        let submitted = ContinuousClock.now
        // An idle slot's next claim takes it: at most one task of `bulk` is ahead of it.
        let next = try await store.claim(executor: "x", count: 2, leaseMillis: 10_000)
        let waited = ContinuousClock.now - submitted
        #expect(next.contains { $0.taskID == "solo1" })
        #expect(waited < .milliseconds(100), "\(waited)")
        let bulkAhead = try await store.redis.send("ZCARD", store.keys.ready(queue)).int
        #expect(bulkAhead == 100_000 - 3 - (next.count - 1))
    }

    @Test func strictPriorityComesBeforeFairness() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(Self.items(5, prefix: "low"), userID: "heavy")
        var urgent = Self.items(1, prefix: "urgent")
        urgent[0].priority = 0
        _ = try await store.submit(urgent, userID: "heavy")
        _ = try await store.submit(Self.items(1, prefix: "other"), userID: "light")
        let order = try await store.claim(executor: "x", count: 3, leaseMillis: 10_000).map(\.taskID)
        #expect(order == ["urgent1", "low1", "other1"] || order == ["urgent1", "other1", "low1"])
    }

    @Test func aRetryKeepsItsKeyThroughTheDelayedSet() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        try await store.publishAdmission(["x": QueueAdmission(maxRunningPerKey: 1)])
        var items = Self.items(2, prefix: "d", key: "k")
        items[0].maxAttempts = 2
        items[0].backoff = BackoffPolicy(strategy: .fixed, baseSeconds: 1)
        _ = try await store.submit(items, userID: "u")
        let first = try await claimAndStart(store, 5)
        #expect(first.map(\.taskID) == ["d1"])
        try await store.apply([Report.failed(first[0], error: "again")])
        let parked = try await store.redis.send("ZRANGE", store.keys.delayed("x"), "0", "-1").array?.compactMap(\.string)
        #expect(parked == ["2\tu\tk\td1\td1"])
        // d2 runs meanwhile (the slot was freed); when the retry is due it waits for d2's slot.
        let second = try await claimAndStart(store, 5)
        #expect(second.map(\.taskID) == ["d2"])
        clock.advance(milliseconds: 1_001)
        #expect(try await store.promoteDelayed(executors: ["x"]) == 1)
        #expect(try await store.claim(executor: "x", count: 5, leaseMillis: 10_000).isEmpty)
        try await complete(store, second)
        #expect(try await store.claim(executor: "x", count: 5, leaseMillis: 10_000).map(\.taskID) == ["d1"])
    }

    @Test func aTypeRateAdmitsItsBurstThenOneTaskPerInterval() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        // 10 per second, 3 at once: one task every 100 ms.
        try await store.publishAdmission(["x": QueueAdmission(rateLimit: RateLimit(tasks: 10, intervalSeconds: 1, burst: 3))])
        _ = try await store.submit(Self.items(10, prefix: "r"), userID: "u")
        let queue = ExecutorQueue(executor: "x")
        let start = clock.now
        let first = try await store.claimWithDue(queue, count: 10, leaseMillis: 10_000)
        #expect(first.claimed.count == 3 && first.dueMillis == start + 100)
        // Out of rate: nothing more now, and no marker (agents wake when the next task is due).
        let none = try await store.claimWithDue(queue, count: 10, leaseMillis: 10_000)
        #expect(none.claimed.isEmpty && none.dueMillis == start + 100)
        #expect(try await store.redis.send("ZCARD", store.keys.marker("x")).int == 0)
        clock.advance(milliseconds: 100)
        #expect(try await store.claimWithDue(queue, count: 10, leaseMillis: 10_000).claimed.count == 1)
        clock.advance(milliseconds: 250)
        let later = try await store.claimWithDue(queue, count: 10, leaseMillis: 10_000)
        #expect(later.claimed.count == 2 && later.dueMillis == start + 400)
        // Without the limit, the rest goes at once.
        try await store.publishAdmission(["x": QueueAdmission()])
        let rest = try await store.claimWithDue(queue, count: 10, leaseMillis: 10_000)
        #expect(rest.claimed.count == 4 && rest.dueMillis == nil)
    }

    @Test func aKeyRateHoldsItsKeyOnlyAndReleasesWhenDue() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        try await store.publishAdmission(["x": QueueAdmission(rateLimitPerKey: RateLimit(tasks: 1, intervalSeconds: 1))])
        _ = try await store.submit(Self.items(3, prefix: "a", key: "acme") + Self.items(1, prefix: "b", key: "beta"), userID: "u")
        let queue = ExecutorQueue(executor: "x")
        let start = clock.now
        let first = try await store.claimWithDue(queue, count: 10, leaseMillis: 10_000)
        #expect(Set(first.claimed.map(\.taskID)) == ["a1", "b1"] && first.dueMillis == start + 1_000)
        #expect(try await store.admissionState(of: "x").held == 2)
        clock.advance(milliseconds: 999)
        #expect(try await store.claimWithDue(queue, count: 10, leaseMillis: 10_000).claimed.isEmpty)
        clock.advance(milliseconds: 1)
        let second = try await store.claimWithDue(queue, count: 10, leaseMillis: 10_000)
        #expect(second.claimed.map(\.taskID) == ["a2"] && second.dueMillis == start + 2_000)
        clock.advance(milliseconds: 1_000)
        #expect(try await store.claimWithDue(queue, count: 10, leaseMillis: 10_000).claimed.map(\.taskID) == ["a3"])
        #expect(try await store.admissionState(of: "x").held == 0)
    }
}
