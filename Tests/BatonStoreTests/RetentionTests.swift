import BatonCore
@testable import BatonStore
import Foundation
import RedisClient
import Testing

/// Issue 9, item 2: finished trees expire after their retention, with every index entry that
/// names them; `DELETE` removes a finished tree; archived and re-executed trees are kept.
@Suite struct RetentionTests {
    static let tree = #"[{"id": "r", "name": "r", "executor": "x"}, {"name": "k", "executor": "x", "parent_id": "r", "dependencies": ["r"]}]"#

    func makeStore(_ clock: TestClock, retentionMillis: Int64? = 60_000) throws -> BatonStore {
        let base = try BatonStoreTests.makeStore(clock: clock)
        return BatonStore(redis: base.redis, keys: base.keys, retentionMillis: retentionMillis, clock: { clock.now })
    }

    /// Runs every ready task of `x` to completion.
    func finish(_ store: BatonStore) async throws {
        while true {
            let started = try await claimAndStart(store, executor: "x")
            if started.isEmpty { return }
            try await store.apply(started.map { Report.completed($0, result: "done") })
        }
    }

    func namespaceKeys(_ store: BatonStore) async throws -> [String] {
        var keys: [String] = []
        var cursor = "0"
        repeat {
            let reply = try await store.redis.send("SCAN", cursor, "MATCH", "\(store.keys.namespace):*", "COUNT", "1000")
            cursor = reply.array?.first?.string ?? "0"
            keys += (reply.array?.last?.array ?? []).compactMap(\.string)
        } while cursor != "0"
        return keys.sorted()
    }

    @Test func aFinishedTreeExpiresWithEveryIndexEntry() async throws {
        let clock = TestClock()
        let store = try makeStore(clock)
        let baseline = try await namespaceKeys(store)
        let submitted = try await store.submit(try submissions(Self.tree), userID: "u")
        try await finish(store)
        let record = try await store.treeRecord("r", userID: nil)
        #expect(record.isFinished)
        let expires = try await store.redis.send("HGET", store.keys.tree("r"), "expires_at").string
        #expect(expires == String(clock.now + 60_000))
        #expect(try await store.sweepExpiredTrees() == 0, "not due yet")
        clock.advance(milliseconds: 60_001)
        #expect(try await store.sweepExpiredTrees() == 1)
        await #expect(throws: BatonError.self) { _ = try await store.treeRecord("r", userID: nil) }
        for id in submitted.taskIDs { #expect(try await store.treeID(ofTask: id) == nil) }
        // Only what was there before (and the executors' own queues, now empty, hold nothing).
        let left = try await namespaceKeys(store).filter { !$0.contains("{q:") }
        #expect(left == baseline.filter { !$0.contains("{q:") }, "\(left)")
        // The ids are free again.
        _ = try await store.submit(try submissions(Self.tree), userID: "u")
    }

    @Test func aReplayedFinalReportIndexesTheExpiryACrashLost() async throws {
        let clock = TestClock()
        let store = try makeStore(clock)
        _ = try await store.submit(try submissions(Self.tree), userID: "u")
        var last: [Report] = []
        while true {
            let started = try await claimAndStart(store, executor: "x")
            if started.isEmpty { break }
            last = started.map { Report.completed($0, result: "done") }
            try await store.apply(last)
        }
        #expect(try await store.treeRecord("r", userID: nil).isFinished)
        // The crash: the tree script finished the tree, the dispatch that indexes its expiry died.
        try await store.redis.send("ZREM", store.keys.expiringTrees, "r")
        // The report's bus entry, never acknowledged, is applied again.
        try await store.apply(last)
        let score = try await store.redis.send("ZSCORE", store.keys.expiringTrees, "r").string
        #expect(score == String(clock.now + 60_000))
        clock.advance(milliseconds: 60_001)
        #expect(try await store.sweepExpiredTrees() == 1)
    }

    @Test func reexecutedAndArchivedTreesAreKept() async throws {
        let clock = TestClock()
        let store = try makeStore(clock)
        _ = try await store.submit(try submissions(Self.tree), userID: "u")
        try await finish(store)
        _ = try await store.archiveTree("r", userID: "u")
        _ = try await store.submit(try submissions(#"[{"id": "f", "name": "f", "executor": "x", "max_attempts": 1}]"#), userID: "u")
        let started = try await claimAndStart(store, executor: "x")
        try await store.apply(started.map { Report.failed($0, error: "boom") })
        _ = try await store.reexecute(taskID: "f", userID: "u")
        clock.advance(milliseconds: 120_000)
        #expect(try await store.sweepExpiredTrees() == 0)
        #expect(try await store.treeRecord("r", userID: nil).archived)
        #expect(try await store.treeRecord("f", userID: nil).isFinished == false)
        #expect(try await store.redis.send("EXISTS", store.keys.expiringTrees).int == 0, "stale hints are dropped")
    }

    @Test func deleteRemovesAFinishedTreeAndRefusesARunningOne() async throws {
        let clock = TestClock()
        let store = try makeStore(clock, retentionMillis: nil)
        _ = try await store.submit(try submissions(Self.tree), userID: "u")
        let error = await #expect(throws: BatonError.self) { _ = try await store.delete("r", userID: "u", cancelRunning: false) }
        #expect(error?.code == .conflict)
        await #expect(throws: BatonError.self) { _ = try await store.delete("r", userID: "mallory", cancelRunning: false) }
        // Cancelled and deleted at once: nothing of it was running.
        #expect(try await store.delete("r", userID: "u", cancelRunning: true))
        await #expect(throws: BatonError.self) { _ = try await store.treeRecord("r", userID: nil) }

        // A running task: cancelled now, deleted once its agent stops.
        _ = try await store.submit(try submissions(#"[{"id": "run", "name": "run", "executor": "x"}]"#), userID: "u")
        let started = try await claimAndStart(store, executor: "x")
        #expect(try await store.delete("run", userID: "u", cancelRunning: true) == false)
        try await store.apply([Report.cancelled(started[0])])
        #expect(try await store.sweepExpiredTrees() == 1)
        await #expect(throws: BatonError.self) { _ = try await store.treeRecord("run", userID: nil) }
    }

    /// The soak: many submit → finish → expire cycles leave the namespace as they found it, and
    /// Redis' memory for it does not grow.
    @Test func manyCyclesLeaveNothingBehind() async throws {
        let clock = TestClock()
        let store = try makeStore(clock, retentionMillis: 1_000)
        var sizes: [Int] = []
        for round in 0..<5 {
            for index in 0..<40 {
                _ = try await store.submit(try submissions(
                    #"[{"id": "c\#(round)-\#(index)", "name": "a", "executor": "x"}, {"name": "b", "executor": "x", "parent_id": "c\#(round)-\#(index)", "dependencies": ["c\#(round)-\#(index)"]}]"#),
                    userID: "u")
            }
            try await finish(store)
            clock.advance(milliseconds: 1_001)
            while try await store.sweepExpiredTrees(limit: 100) > 0 {}
            var bytes = 0
            for key in try await namespaceKeys(store) {
                bytes += try await store.redis.send("MEMORY", "USAGE", key).int ?? 0
            }
            sizes.append(bytes)
        }
        #expect(Set(sizes.dropFirst()).count == 1 || (sizes.max()! - sizes.min()!) < 4_096, "memory per round: \(sizes)")
        #expect(try await store.listTasks(userID: nil).tasks.isEmpty)
    }
}
