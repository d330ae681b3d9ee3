import BatonCore
@testable import BatonStore
import Foundation
import RedisClient
import Testing

/// Issue 9: any number of schedulers reap leases at once, and a late expiry never ends a newer
/// claim's attempt; an agent that finds its lease gone hands the attempt back, so no task stays
/// `in_progress` without a lease.
@Suite struct LeaseReapTests {
    static let one = #"[{"id": "t", "name": "t", "executor": "x"}]"#

    func leaseMembers(_ store: BatonStore) async throws -> [String] {
        (try await store.redis.send("ZRANGE", store.keys.leases("x"), "0", "-1").array ?? []).compactMap(\.string)
    }

    @Test func concurrentReapersTakeEachExpiryOnce() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        var json: [String] = []
        for index in 0..<40 { json.append(#"{"id": "t\#(index)", "name": "t\#(index)", "executor": "x"}"#) }
        _ = try await store.submit(try submissions("[" + json.joined(separator: ",") + "]"), userID: "u")
        let started = try await claimAndStart(store, executor: "x", leaseMillis: 1_000)
        #expect(started.count == 40)
        clock.advance(milliseconds: 1_001)
        let reaped = try await withThrowingTaskGroup(of: [Report].self) { group in
            for _ in 0..<4 { group.addTask { try await store.reapExpiredLeases(executor: "x", holdMillis: 30_000) } }
            return try await group.reduce(into: [Report]()) { $0 += $1 }
        }
        #expect(reaped.count == 40, "every expiry taken exactly once, got \(reaped.count)")
        #expect(Set(reaped.map(\.taskID)).count == 40)
        #expect(reaped.allSatisfy { $0.kind == .expired && $0.attempt == 1 })
        // Held: nobody takes them again until the hold passes.
        #expect(try await store.reapExpiredLeases(executor: "x", holdMillis: 30_000).isEmpty)
    }

    @Test func aLateExpiryLeavesTheNewerClaimAlone() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        _ = try await store.submit(try submissions(Self.one), userID: "u")
        _ = try await claimAndStart(store, executor: "x", leaseMillis: 1_000)
        clock.advance(milliseconds: 1_001)
        let expiry = try await store.reapExpiredLeases(executor: "x", holdMillis: 30_000)
        #expect(expiry.map(\.attempt) == [1])
        try await store.apply(expiry)
        #expect(try await taskHash(store, "t", "t")["status"] == "pending")

        // Claimed again, not yet started: the same late report must not requeue it a second time.
        let claimed = try await store.claim(executor: "x", count: 1, leaseMillis: 10_000)
        #expect(claimed.count == 1)
        let second = try await store.start(claimed, executor: "x")
        #expect(second.map(\.attempt) == [2])
        let before = try await taskHash(store, "t", "t")
        try await store.apply(expiry)
        #expect(try await taskHash(store, "t", "t") == before)
        #expect(try await leaseMembers(store) == [Keys.member(tree: "t", task: "t")])
    }

    @Test func anAttemptWhoseLeaseVanishedIsHandedBackByItsAgent() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.one), userID: "u")
        let started = try await claimAndStart(store, executor: "x")
        // The lease is gone (dropped by a late expiry): the agent's heartbeat says so…
        try await store.redis.send("DEL", store.keys.leases("x"))
        let outcome = try await store.heartbeat(executor: "x", members: [Keys.member(tree: "t", task: "t")], leaseMillis: 10_000)
        #expect(outcome.lost == [Keys.member(tree: "t", task: "t")])
        // …and the agent hands the attempt back: the task is queued again, not stuck in progress.
        try await store.apply([Report(kind: .handback, treeID: "t", taskID: "t", attempt: started[0].attempt)])
        let task = try await taskHash(store, "t", "t")
        #expect(task["status"] == "pending" && task["queued"] == "1")
        let ready = (try await store.redis.send("ZRANGE", store.keys.ready("x"), "0", "-1").array ?? []).compactMap(\.string)
        #expect(ready == [Keys.member(tree: "t", task: "t")])
    }

    /// Found by scripts/chaos: a lost lease (or a hand-back) used up one of max_attempts. Only
    /// failed attempts count (SPEC "Lost agents").
    @Test(arguments: [false, true])
    func lostLeasesAndHandbacksDoNotUseUpAttempts(handback: Bool) async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        _ = try await store.submit(try submissions(#"[{"id": "t", "name": "t", "executor": "x", "max_attempts": 2}]"#), userID: "u")
        let first = try await claimAndStart(store, executor: "x", leaseMillis: 1_000)
        if handback {
            try await store.apply([Report(kind: .handback, treeID: "t", taskID: "t", attempt: first[0].attempt)])
        } else {
            clock.advance(milliseconds: 1_001)
            try await store.apply(try await store.reapExpiredLeases(executor: "x", holdMillis: 30_000))
        }
        let second = try await claimAndStart(store, executor: "x")
        #expect(second.map(\.attempt) == [2])
        try await store.apply([Report.failed(second[0], error: "boom")])
        let task = try await taskHash(store, "t", "t")
        #expect(task["status"] == "pending" && task["retry_at"] != nil, "one failed attempt of two: it must be retried, got \(task)")
    }

    /// A slow agent starts a claim whose lease was already reaped, then dies: the task is
    /// `in_progress` without a lease, and only the orphan sweep ever looks at it.
    @Test func theOrphanSweepQueuesATaskInProgressWithoutALease() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        _ = try await store.submit(try submissions(#"[{"id": "t", "name": "t", "executor": "x"}, {"id": "u", "name": "u", "executor": "x"}]"#), userID: "u")
        let claimed = try await store.claim(executor: "x", count: 1, leaseMillis: 1_000)
        let kept = try await claimAndStart(store, executor: "x")  // the other task, with its lease
        clock.advance(milliseconds: 1_001)
        try await store.apply(try await store.reapExpiredLeases(executor: "x", holdMillis: 30_000))
        let orphan = try await store.start(claimed, executor: "x")
        #expect(orphan.count == 1 && kept.count == 1)
        let orphanID = try #require(orphan.first?.taskID)
        #expect(try await taskHash(store, "t", orphanID)["status"] == "in_progress")
        #expect(try await store.redis.send("ZSCORE", store.keys.leases("x"), Keys.member(tree: "t", task: orphanID)).isNull)

        var position = OrphanSweepPosition()
        let found = try await store.recoverOrphanedTasks(from: &position)
        #expect(found.map(\.taskID) == [orphanID] && found.map(\.attempt) == [orphan[0].attempt])
        let task = try await taskHash(store, "t", orphanID)
        #expect(task["status"] == "pending" && task["queued"] == "1" && task["lease_losses"] == "1", "\(task)")
        let events = try await store.redis.send("XRANGE", store.keys.treeEvents("t"), "-", "+").array ?? []
        let requeued = events.compactMap { $0.array?.last?.array?.compactMap(\.string) }.filter { $0.contains("task_requeued") }
        #expect(requeued.count == 1 && requeued[0].contains("lease lost"), "\(requeued)")
        // The task that holds its lease is left alone, and a second pass finds nothing.
        #expect(try await taskHash(store, "t", kept[0].taskID)["status"] == "in_progress")
        #expect(try await store.recoverOrphanedTasks(from: &position).isEmpty)
        // A late orphan report (the task was started again since) changes nothing.
        let again = try await claimAndStart(store, executor: "x")
        #expect(again.map(\.taskID) == [orphanID])
        let before = try await taskHash(store, "t", orphanID)
        try await store.apply(found)
        #expect(try await taskHash(store, "t", orphanID) == before)
    }
}
