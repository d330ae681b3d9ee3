import BatonCore
import BatonStore
import Foundation
import RedisClient
import Testing

/// Failures, retries, lost leases, finished trees and dependencies across trees.
extension ScriptTests {
    // MARK: Failure

    @Test func requiredFailureBlocksTransitivelyAndOptionalDependentRuns() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        let keys = store.keys
        _ = try await store.submit(try submissions("""
            [{"id": "a", "name": "a", "executor": "x"},
             {"id": "b", "name": "b", "executor": "x", "dependencies": ["a"]},
             {"id": "d", "name": "d", "executor": "x", "dependencies": [{"id": "a", "required": false}],
              "inputs": {"a": "declared", "k": 1}},
             {"id": "c", "name": "c", "executor": "x", "dependencies": ["b"]},
             {"id": "e", "name": "e", "executor": "x", "dependencies": ["b", {"id": "d", "required": false}]}]
            """), userID: "u")
        let started = try await claimAndStart(store, executor: "x")
        clock.advance(milliseconds: Self.step)
        let now = clock.now
        let before = try await keySpace(store)
        let eventCount = try await events(store, "a").count
        let tree = try await hash(store, keys.tree("a"))

        let outputs = try await store.apply([Report.failed(started[0], error: "boom")])
        #expect(changedKeys(before, try await keySpace(store)) == [
            keys.task("a", "a"), keys.task("a", "b"), keys.task("a", "c"), keys.task("a", "d"), keys.task("a", "e"),
            keys.tree("a"), keys.treeEvents("a"), keys.leases("x"), keys.ready("x"), keys.fair(ExecutorQueue(executor: "x")),
        ])
        let emitted = try await events(store, "a").dropFirst(eventCount).map(\.fields)
        let base = ["tree_id": "a", "timestamp": String(now)]
        #expect(emitted == [
            base.merging(["type": "task_failed", "task_id": "a", "status": "failed", "error": "boom"]) { $1 },
            base.merging(["type": "task_blocked", "task_id": "b", "status": "pending", "blocked_by": "a"]) { $1 },
            base.merging(["type": "task_blocked", "task_id": "c", "status": "pending", "blocked_by": "a"]) { $1 },
            base.merging(["type": "task_blocked", "task_id": "e", "status": "pending", "blocked_by": "a"]) { $1 },
        ])
        let failed = try await taskHash(store, "a", "a")
        #expect(failed["status"] == "failed" && failed["error"] == "boom" && failed["completed_at"] == String(now))
        #expect(failed["result"] == nil && failed["progress"] == "0")
        for id in ["b", "c", "e"] {
            let blocked = try await taskHash(store, "a", id)
            #expect(blocked["status"] == "pending" && blocked["blocked_by"] == "a" && blocked["queued"] == "0")
            #expect(blocked["updated_at"] == String(now))
        }
        let d = try await taskHash(store, "a", "d")
        #expect(d["queued"] == "1" && d["inputs"] == #"{"k":1}"#)
        var expectedTree = tree
        expectedTree["n_in_progress"] = "0"
        expectedTree["n_failed"] = "1"
        expectedTree["n_blocked"] = "3"
        #expect(try await hash(store, keys.tree("a")) == expectedTree)
        #expect(outputs.ready.map(\.taskID) == ["d"] && outputs.finished.isEmpty)
        #expect(try await store.task("e", userID: "u").blockedBy == "a")

        // d was the last task that could run: its completion finishes the tree as failed
        clock.advance(milliseconds: Self.step)
        let last = try await claimAndStart(store, executor: "x")
        #expect(last.map(\.taskID) == ["d"] && last.first?.inputs == ["k": 1])
        let finish = try await store.apply([Report.completed(last[0], result: "d")])
        #expect(finish.finished.map { "\($0.treeID) \($0.status)" } == ["a failed"])
        let final = try await events(store, "a").suffix(2).map(\.fields)
        #expect(final.last == ["type": "tree_finished", "tree_id": "a", "task_id": "a", "status": "failed",
                               "timestamp": String(clock.now), "progress": "0.2000"])
        #expect(final.first?["type"] == "task_completed")
        let finishedTree = try await hash(store, keys.tree("a"))
        #expect(finishedTree["status"] == "failed" && finishedTree["finished_at"] == String(clock.now))
        #expect(finishedTree["n_pending"] == "3" && finishedTree["n_blocked"] == "3" && finishedTree["n_completed"] == "1")
        // a blocked task is left alone: its other edges are not counted down any more
        #expect(try await taskHash(store, "a", "e")["waiting"] == "2")
    }

    @Test func failureWithAttemptsLeftIsDelayed() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        let keys = store.keys
        _ = try await store.submit(try submissions("""
            [{"id": "r", "name": "r", "executor": "x", "priority": 1, "max_attempts": 3,
              "backoff": {"strategy": "exponential", "base_s": 2}}]
            """), userID: "u")
        var started = try await claimAndStart(store, executor: "x")
        try await store.apply([Report.progress(started[0], 0.5)])
        clock.advance(milliseconds: Self.step)
        let now = clock.now
        let before = try await keySpace(store)
        let task = try await taskHash(store, "r", "r")

        let outputs = try await store.apply([Report.failed(started[0], error: "flaky", partial: ["part": 1])])
        #expect(changedKeys(before, try await keySpace(store)) == [
            keys.task("r", "r"), keys.tree("r"), keys.treeEvents("r"), keys.leases("x"), keys.delayed("x"),
        ])
        let due = now + 2_000
        var expected = task
        expected["status"] = "pending"
        expected["queued"] = "1"
        expected["error"] = "flaky"
        expected["result"] = #"{"part":1}"#
        expected["progress"] = "0"
        expected["retry_at"] = String(due)
        expected["updated_at"] = String(now)
        #expect(try await taskHash(store, "r", "r") == expected)
        #expect(try await events(store, "r").last?.fields == [
            "type": "task_failed", "tree_id": "r", "task_id": "r", "status": "pending", "timestamp": String(now),
            "error": "flaky", "will_retry": "1", "retry_at": String(due),
        ])
        #expect(try await zset(store, keys.delayed("x")).map { "\($0.member) \($0.score)" } == ["1\tu\t\tr\tr \(due)"])
        #expect(outputs.delayed.map(\.dueMillis) == [due])
        let tree = try await hash(store, keys.tree("r"))
        #expect(tree["n_pending"] == "1" && tree["n_in_progress"] == "0" && Double(tree["progress_sum"] ?? "") == 0)

        // second attempt: exponential backoff doubles
        clock.advance(milliseconds: 2_000)
        #expect(try await store.promoteDelayed(executors: ["x"]) == 1)
        #expect(try await zset(store, keys.ready("x")).map(\.score).first.map { $0 >> 32 } == 1)
        started = try await claimAndStart(store, executor: "x")
        #expect(started.first?.attempt == 2)
        let retried = try await taskHash(store, "r", "r")
        #expect(retried["error"] == nil && retried["result"] == nil && retried["retry_at"] == nil)
        try await store.apply([Report.failed(started[0], error: "flaky again")])
        #expect(try await taskHash(store, "r", "r")["retry_at"] == String(clock.now + 4_000))
    }

    /// `startTree` on a started tree is a repair ("queue again whatever is ready"): a retry
    /// waiting for its backoff is not ready and must stay in the delayed set only.
    @Test func startTreeRepairLeavesDelayedRetriesAlone() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        let keys = store.keys
        _ = try await store.submit(try submissions("""
            [{"id": "r", "name": "r", "executor": "x", "max_attempts": 2, "backoff": {"strategy": "fixed", "base_s": 60}}]
            """), userID: "u")
        let started = try await claimAndStart(store, executor: "x")
        try await store.apply([Report.failed(started[0], error: "flaky")])
        let before = try await keySpace(store)

        try await store.startTree("r", userID: "u")
        #expect(try await members(store, keys.ready("x")).isEmpty, "the retry skipped its 60 s backoff")
        #expect(try await members(store, keys.delayed("x")) == ["2\tu\t\tr\tr"])
        expectUnchanged(before, try await keySpace(store), ignoring: [keys.readySequence("x")])
    }

    @Test func expiredLeaseRequeuesWithoutCountingAnAttempt() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        let keys = store.keys
        _ = try await store.submit(try submissions(#"[{"id": "r", "name": "r", "executor": "x", "priority": 3}]"#), userID: "u")
        let started = try await claimAndStart(store, executor: "x", leaseMillis: 1_000)
        #expect(try await zset(store, keys.leases("x")).map { "\($0.member) \($0.score)" } == ["r\tr \(clock.now + 1_000)"])
        clock.advance(milliseconds: Self.step)
        let expired = try await store.reapExpiredLeases(executor: "x", holdMillis: 30_000)
        #expect(expired.map(\.taskID) == ["r"])
        let outputs = try await store.apply(expired)
        #expect(outputs.ready.map(\.taskID) == ["r"])
        let task = try await taskHash(store, "r", "r")
        #expect(task["status"] == "pending" && task["queued"] == "1" && task["lease_losses"] == "1" && task["attempt"] == "1")
        let event = try #require(try await events(store, "r").last)
        #expect(event.fields["task_id"] == "r" && event.fields["status"] == "pending")
        #expect(try await members(store, keys.leases("x")).isEmpty)
        #expect(try await zset(store, keys.ready("x")).first.map { $0.score >> 32 } == 3)
        // the agent that lost the lease reports late: ignored
        try await store.apply([Report.completed(started[0], result: "late")])
        #expect(try await taskHash(store, "r", "r")["status"] == "pending")
    }

    /// An agent claims a promoted retry and dies before starting it: the reaper must put the
    /// task back in a queue (as it does for a first attempt), not just drop the lease.
    @Test func expiredClaimOfAPromotedRetryIsQueuedAgain() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        let keys = store.keys
        _ = try await store.submit(try submissions("""
            [{"id": "r", "name": "r", "executor": "x", "max_attempts": 2, "backoff": {"strategy": "fixed", "base_s": 1}}]
            """), userID: "u")
        let first = try await claimAndStart(store, executor: "x")
        try await store.apply([Report.failed(first[0], error: "flaky")])
        clock.advance(milliseconds: 1_000)
        #expect(try await store.promoteDelayed(executors: ["x"]) == 1)
        // claimed, never started
        #expect(try await store.claim(executor: "x", count: 1, leaseMillis: 1_000).map(\.taskID) == ["r"])
        clock.advance(milliseconds: 2_000)
        let expired = try await store.reapExpiredLeases(executor: "x", holdMillis: 30_000)
        try await store.apply(expired)

        #expect(try await members(store, keys.leases("x")).isEmpty)
        let queued = try await members(store, keys.ready("x")) + members(store, keys.delayed("x")).map { String($0.dropFirst(2)) }
        #expect(queued == ["r\tr"], "task r is pending and queued=1 but in no queue: nothing will ever run it")
        let again = try await claimAndStart(store, executor: "x")
        #expect(again.map(\.attempt) == [2])
    }

    // MARK: Tree finished

    @Test func treeFinishedCarriesStatusAndProgress() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        _ = try await store.submit(try submissions("""
            [{"id": "t", "name": "t", "executor": "x"}, {"id": "u", "name": "u", "executor": "x"},
             {"id": "v", "name": "v", "executor": "x"}, {"id": "w", "name": "w", "executor": "x"}]
            """), userID: "u")
        let started = try await claimAndStart(store, executor: "x")
        #expect(try await events(store, "t").filter { $0.type == "task_started" }.map { $0.fields["attempt"] } == ["1", "1", "1", "1"])
        try await store.apply([Report.progress(started[3], 0.25)])
        let progress = try await events(store, "t").last?.fields
        #expect(progress?["type"] == "progress" && progress?["progress"] == "0.25" && progress?["status"] == "in_progress")
        #expect(try await store.tree("t", userID: "u").tree.progress == 0.0625)

        try await store.apply([Report.completed(started[0], result: 1), Report.completed(started[1], result: 2)])
        clock.advance(milliseconds: Self.step)
        let outputs = try await store.apply([Report.failed(started[2], error: "x"), Report.completed(started[3], result: 4)])
        #expect(outputs.finished.map { "\($0.treeID) \($0.status)" } == ["t failed"])
        #expect(try await events(store, "t").last?.fields == [
            "type": "tree_finished", "tree_id": "t", "task_id": "t", "status": "failed",
            "timestamp": String(clock.now), "progress": "0.7500",
        ])
        let record = try await store.tree("t", userID: "u").tree
        #expect(record.status == "failed" && record.isFinished && record.progress == 0.75)
        #expect(record.finishedAt == Timestamp.rfc3339(millis: clock.now))
        // nothing emits a second tree_finished
        let count = try await events(store, "t").count
        try await store.apply([Report.completed(started[3], result: 4)])
        #expect(try await events(store, "t").count == count)

        let single = try makeStore(clock: clock)
        _ = try await single.submit(try submissions(#"[{"id": "s", "name": "s", "executor": "x"}]"#), userID: "u")
        let one = try await claimAndStart(single, executor: "x")
        let done = try await single.apply([Report.completed(one[0], result: nil)])
        #expect(done.finished.map { "\($0.treeID) \($0.status)" } == ["s completed"])
        #expect(try await events(single, "s").suffix(2).map(\.type) == ["task_completed", "tree_finished"])
        #expect(try await events(single, "s").last?.fields["progress"] == "1.0000")
        #expect(try await events(single, "s").last?.fields["status"] == "completed")
        #expect(try await taskHash(single, "s", "s")["result"] == "null")
    }

    // MARK: Across trees

    @Test func crossTreeDependencyIsWatchedAndResolvedOnce() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        _ = try await store.submit(try submissions(#"[{"id": "src", "name": "src", "executor": "x"}]"#), userID: "u")
        _ = try await store.submit(try submissions("""
            [{"id": "dst", "name": "dst", "executor": "y", "dependencies": ["src"], "inputs": {"src": "declared"}},
             {"id": "opt", "name": "opt", "executor": "y", "dependencies": [{"id": "src", "required": false}]}]
            """), userID: "u")
        #expect(try await taskHash(store, "src", "src")["xdependents"] == "Rdst\tdst\nOdst\topt")
        #expect(try await taskHash(store, "dst", "dst")["waiting"] == "1")

        let started = try await claimAndStart(store, executor: "x")
        let report = Report.completed(started[0], result: ["v": []])
        let outputs = try await store.apply([report])
        #expect(outputs.notifications.map(\.taskID) == ["dst", "opt"])
        #expect(outputs.notifications.allSatisfy { $0.treeID == "dst" && $0.state == "completed" && $0.result == #"{"v":[]}"# })
        let dst = try await taskHash(store, "dst", "dst")
        #expect(dst["xs:src"] == "completed" && dst["xr:src"] == #"{"v":[]}"# && dst["queued"] == "1")
        #expect(try JSONValue(parsing: dst["inputs"] ?? "") == ["src": ["v": []]])
        #expect(try await members(store, store.keys.ready("y")) == ["dst\tdst", "dst\topt"])

        // a replay of the completion notifies again; resolveDependency ignores what it knows
        let before = try await keySpace(store)
        try await store.apply([report])
        expectUnchanged(before, try await keySpace(store), ignoring: [store.keys.readySequence("y")])

        // a dependent submitted after the dependency completed is released at once
        _ = try await store.submit(try submissions(#"[{"id": "late", "name": "late", "executor": "y", "dependencies": ["src"]}]"#), userID: "u")
        #expect(try await taskHash(store, "late", "late")["inputs"] == #"{"src":{"v":[]}}"#)
        #expect(try await members(store, store.keys.ready("y")).last == "late\tlate")
    }

    @Test func crossTreeRequiredFailureBlocksTheDependentTree() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(#"[{"id": "src", "name": "src", "executor": "x"}]"#), userID: "u")
        _ = try await store.submit(try submissions("""
            [{"id": "dst", "name": "dst", "executor": "y", "dependencies": ["src"]},
             {"id": "next", "name": "next", "executor": "y", "dependencies": ["dst"]}]
            """), userID: "u")
        let started = try await claimAndStart(store, executor: "x")
        let outputs = try await store.apply([Report.failed(started[0], error: "down")])
        #expect(outputs.notifications.map(\.state) == ["failed"])
        let blocked = try await events(store, "dst").filter { $0.type == "task_blocked" }
        #expect(blocked.map(\.taskID) == ["dst", "next"])
        #expect(blocked.allSatisfy { $0.fields["blocked_by"] == "src" })
        #expect(try await taskHash(store, "dst", "dst")["xs:src"] == "failed")
        let tree = try await store.tree("dst", userID: "u").tree
        #expect(tree.status == "failed" && tree.counts["blocked"] == 2)
        #expect(try await events(store, "dst").last?.fields["status"] == "failed")
        #expect(try await events(store, "dst").last?.type == "tree_finished")
    }
}
