import BatonCore
@testable import BatonStore
import RedisClient
import Testing

/// The store's transitions driven by hand, as an agent and a scheduler would, with a fixed clock.
@Suite struct EngineFlowTests {
    /// Claims, starts and completes every ready task of an executor, returning what ran.
    func runReady(_ store: BatonStore, executor: String = "echo_executor",
                  result: (StartedTask) -> JSONValue = { $0.inputs }) async throws -> [StartedTask] {
        let claimed = try await store.claim(executor: executor, count: 100, leaseMillis: 10_000)
        let started = try await store.start(claimed, executor: executor)
        try await store.apply(started.map { Report.completed($0, result: result($0)) })
        return started
    }

    @Test func pipelineMergesResultsAndFinishes() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        let submitted = try await store.submit(try submissions("""
        [{"id": "fetch", "name": "fetch", "executor": "echo_executor", "inputs": {"ret": [1, 2]}},
         {"id": "process", "name": "process", "executor": "echo_executor", "dependencies": ["fetch"],
          "inputs": {"fetch": "overwritten", "keep": {}}}]
        """), userID: "alice")
        #expect(submitted.treeID == "fetch")

        let first = try await runReady(store, result: { _ in [1, 2] })
        #expect(first.map(\.taskID) == ["fetch"])
        let second = try await runReady(store)
        #expect(second.map(\.taskID) == ["process"])
        #expect(second.first?.inputs == ["fetch": [1, 2], "keep": .object([:])])

        let tree = try await store.tree("fetch", userID: "alice")
        #expect(tree.tree.status == "completed")
        #expect(tree.tree.progress == 1)
        #expect(tree.tasks.allSatisfy { $0.status == .completed })
        let events = try await store.redis.send("XRANGE", store.keys.treeEvents("fetch"), "-", "+").array ?? []
        let types = events.compactMap { $0.array?.last?.stringDictionary?["type"] }
        #expect(types == ["task_created", "task_created", "task_started", "task_completed",
                          "task_started", "task_completed", "tree_finished"])
    }

    @Test func requiredFailureBlocksDependentsAndFailsTree() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions("""
        [{"id": "a", "name": "a", "executor": "x"},
         {"id": "b", "name": "b", "executor": "x", "dependencies": ["a"]},
         {"id": "c", "name": "c", "executor": "x", "dependencies": ["b"]},
         {"id": "d", "name": "d", "executor": "x", "dependencies": [{"id": "a", "required": false}]}]
        """), userID: "u")
        let claimed = try await store.claim(executor: "x", count: 10, leaseMillis: 10_000)
        let started = try await store.start(claimed, executor: "x")
        try await store.apply([Report.failed(started[0], error: "boom")])
        let tree1 = try await store.tree("a", userID: "u")
        #expect(tree1.tasks.first { $0.id == "b" }?.blockedBy == "a")
        #expect(tree1.tasks.first { $0.id == "c" }?.blockedBy == "a")
        #expect(tree1.tree.status == "in_progress")
        let optional = try await runReady(store, executor: "x")
        #expect(optional.map(\.taskID) == ["d"])
        #expect(optional.first?.inputs == .object([:]))
        let tree2 = try await store.tree("a", userID: "u")
        #expect(tree2.tree.status == "failed")
    }

    @Test func priorityOrderWithinQueue() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions("""
        [{"id": "low", "name": "low", "executor": "p", "priority": 3},
         {"id": "urgent", "name": "urgent", "executor": "p", "priority": 0},
         {"id": "normal", "name": "normal", "executor": "p"},
         {"id": "urgent2", "name": "urgent2", "executor": "p", "priority": 0}]
        """), userID: "u")
        let claimed = try await store.claim(executor: "p", count: 10, leaseMillis: 1000)
        #expect(claimed.map(\.taskID) == ["urgent", "urgent2", "normal", "low"])
    }

    @Test func crossTreeDependencyWaitsThenMerges() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(#"[{"id": "src", "name": "src", "executor": "x"}]"#), userID: "u")
        _ = try await store.submit(try submissions(#"[{"id": "dst", "name": "dst", "executor": "y", "dependencies": ["src"]}]"#), userID: "u")
        #expect(try await store.claim(executor: "y", count: 10, leaseMillis: 1000).isEmpty)
        _ = try await runReady(store, executor: "x", result: { _ in "hello" })
        let ran = try await runReady(store, executor: "y")
        #expect(ran.first?.inputs == ["src": "hello"])
        #expect(try await store.tree("dst", userID: "u").tree.status == "completed")
    }

    /// A replayed report can release a task again just as it fails and waits for its retry
    /// (chaos agent-kill, issue 13): the stale queue entry must not start the retry early. The
    /// start answers it `early`, the agent parks it in the delayed set again, and it runs when due.
    @Test func aStaleQueueEntryDoesNotStartARetryBeforeItsBackoff() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        let keys = store.keys
        _ = try await store.submit(try submissions("""
        [{"id": "r", "name": "r", "executor": "z", "max_attempts": 2, "backoff": {"strategy": "fixed", "base_s": 5}}]
        """), userID: "u")
        let first = try await store.start(try await store.claim(executor: "z", count: 1, leaseMillis: 1000), executor: "z")
        try await store.apply([Report.failed(first[0], error: "flaky")])
        let member = Keys.member(tree: "r", task: "r")
        let parked = try await store.redis.send(RedisCommand("ZRANGE", keys.delayed("z"), "0", "-1", "WITHSCORES"))
        // the stale entry a late dispatch would write
        _ = try await store.run(store.enqueueCalls([.init(treeID: "r", taskID: "r", executor: "z", priority: 2)]), operation: "test")
        clock.advance(milliseconds: 1_000)
        let claimed = try await store.claim(executor: "z", count: 1, leaseMillis: 1000)
        #expect(claimed.map(\.taskID) == ["r"])
        #expect(try await store.start(claimed, executor: "z").isEmpty, "started 4 s before its backoff ended")
        #expect(try await store.task("r", userID: "u").status == .pending)
        #expect(try await store.redis.send(RedisCommand("ZRANGE", keys.delayed("z"), "0", "-1", "WITHSCORES")) == parked)
        #expect(try await store.redis.send("ZSCORE", keys.leases("z"), member).isNull)
        clock.advance(milliseconds: 4_000)
        #expect(try await store.promoteDelayed(executors: ["z"]) == 1)
        let second = try await store.start(try await store.claim(executor: "z", count: 1, leaseMillis: 1000), executor: "z")
        #expect(second.map(\.attempt) == [2])
    }

    @Test func retryWithBackoffThenLeaseExpiry() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        _ = try await store.submit(try submissions("""
        [{"id": "r", "name": "r", "executor": "z", "max_attempts": 2, "backoff": {"strategy": "fixed", "base_s": 5}}]
        """), userID: "u")
        var started = try await store.start(try await store.claim(executor: "z", count: 1, leaseMillis: 1000), executor: "z")
        try await store.apply([Report.failed(started[0], error: "flaky")])
        #expect(try await store.promoteDelayed(executors: ["z"]) == 0)
        clock.advance(milliseconds: 5_000)
        #expect(try await store.promoteDelayed(executors: ["z"]) == 1)
        started = try await store.start(try await store.claim(executor: "z", count: 1, leaseMillis: 1000), executor: "z")
        #expect(started.first?.attempt == 2)
        clock.advance(milliseconds: 2_000)
        let expired = try await store.reapExpiredLeases(executor: "z", holdMillis: 30_000)
        #expect(expired.map(\.taskID) == ["r"])
        try await store.apply(expired)
        // back in the queue, not failed: lease losses are not failed attempts
        let again = try await store.start(try await store.claim(executor: "z", count: 1, leaseMillis: 1000), executor: "z")
        #expect(again.first?.attempt == 3)
        // a stale report of attempt 2 is ignored
        try await store.apply([Report.completed(started[0], result: "late")])
        #expect(try await store.task("r", userID: "u").status == .inProgress)
    }

    /// A handed-back task is queued again and its old lease dropped by one script on the queue's
    /// slot: the next claim's lease (same member) survives, and a second hand-back of the stale
    /// attempt changes nothing.
    @Test func handBackQueuesAgainAndTheNextClaimKeepsItsLease() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(#"[{"id": "h", "name": "h", "executor": "q"}]"#), userID: "u")
        let first = try await store.start(try await store.claim(executor: "q", count: 1, leaseMillis: 10_000), executor: "q")
        try await store.apply([Report(kind: .handback, treeID: "h", taskID: "h", attempt: first[0].attempt)])
        let second = try await store.start(try await store.claim(executor: "q", count: 1, leaseMillis: 10_000), executor: "q")
        #expect(second.map(\.attempt) == [2])
        try await store.apply([Report(kind: .handback, treeID: "h", taskID: "h", attempt: first[0].attempt)])
        let beat = try await store.heartbeat(executor: "q", members: ["h\th"], leaseMillis: 10_000)
        #expect(beat.lost.isEmpty, "the stale hand-back must not drop the running attempt's lease")
        #expect(try await store.task("h", userID: "u").status == .inProgress)
    }
}
