import BatonCore
@testable import BatonStore
import Foundation
import RedisClient
import Testing

/// Issue 11, items 1 and 2: why each pending task waits, the agents' records, the executors'
/// queues, and the listing of trees.
@Suite struct ObserveTests {
    func agent(_ store: BatonStore, _ id: String, executors: [String], concurrency: Int = 4, running: Int = 1,
               lastMinute: [String: [String: Int]] = [:]) -> AgentRecord {
        AgentRecord(id: id, host: "h", pid: 7, version: BatonVersion.current, executors: executors, concurrency: concurrency,
                    running: running, startedAt: store.clock() - 1000, lastSeen: store.clock(), lastMinute: lastMinute)
    }

    @Test func everyPendingTaskSaysWhyItWaits() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        // Another tree's task, for a dependency across trees.
        _ = try await store.submit(try submissions(#"[{"id": "far", "name": "far", "executor": "slow"}]"#), userID: "u")
        _ = try await store.submit(try submissions("""
            [{"id": "root", "name": "root", "executor": "x"},
             {"id": "second", "name": "second", "executor": "x", "parent_id": "root"},
             {"id": "needs", "name": "needs", "executor": "x", "parent_id": "root", "dependencies": ["root", "far"]},
             {"id": "typo", "name": "typo", "executor": "echo_exector", "parent_id": "root"},
             {"id": "flaky", "name": "flaky", "executor": "x", "parent_id": "root", "max_attempts": 2, "backoff": {"strategy": "fixed", "base_s": 30}},
             {"id": "doomed", "name": "doomed", "executor": "x", "parent_id": "root", "dependencies": ["flaky"]}]
            """), userID: "u", execute: false)
        var (_, waiting) = try await store.treeWithWaiting("root", userID: "u")
        #expect(Set(waiting.values.map(\.reason)) == [.notStarted], "a tree never executed")

        try await store.startTree("root", userID: "u")
        try await store.registerAgent(agent(store, "a1", executors: ["x"]))
        (_, waiting) = try await store.treeWithWaiting("root", userID: "u")
        #expect(waiting["root"] == Waiting(reason: .queued, position: 1, ahead: 0, executor: "x"))
        #expect(waiting["second"]?.reason == .queued && waiting["second"]?.ahead == 1)
        #expect(waiting["typo"] == Waiting(reason: .noAgent, executor: "echo_exector"))
        #expect(waiting["needs"]?.reason == .dependencies)
        #expect(Set(waiting["needs"]?.unmet ?? []) == [.init(id: "root", status: "pending"), .init(id: "far", status: "pending")],
                "in-tree and other-tree dependencies, with their statuses")

        // flaky fails once (a retry in 30 s), so doomed waits for it; then it fails for good.
        let started = try await store.start(try await store.claim(executor: "x", count: 10, leaseMillis: 60_000), executor: "x")
        let flaky = try #require(started.first { $0.taskID == "flaky" })
        try await store.apply([Report.failed(flaky, error: "boom")])
        (_, waiting) = try await store.treeWithWaiting("root", userID: "u")
        #expect(waiting["flaky"] == Waiting(reason: .retryBackoff, retryAt: clock.now + 30_000))
        #expect(waiting["root"] == nil, "running tasks do not wait")
        clock.advance(milliseconds: 31_000)
        try await store.promoteDelayed(executors: ["x"])
        let again = try await store.start(try await store.claim(executor: "x", count: 10, leaseMillis: 60_000), executor: "x")
        try await store.apply([Report.failed(try #require(again.first { $0.taskID == "flaky" }), error: "boom")])
        (_, waiting) = try await store.treeWithWaiting("root", userID: "u")
        #expect(waiting["doomed"] == Waiting(reason: .blocked, blockedBy: "flaky"))
        #expect(try await store.taskWithWaiting("doomed", userID: "u").1 == waiting["doomed"])
        #expect(try await store.taskWithWaiting("root", userID: "u").1 == nil)
        await #expect(throws: BatonError.self) { _ = try await store.taskWithWaiting("doomed", userID: "someone else") }
    }

    @Test func agentsRegisterAndExecutorsSumTheirQueues() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        #expect(try await store.agents().isEmpty)
        try await store.registerAgent(agent(store, "a1", executors: ["x"], concurrency: 4, running: 1,
                                            lastMinute: ["x": ["completed": 5, "failed": 1]]))
        try await store.registerAgent(agent(store, "a2", executors: ["x", "y"], concurrency: 8, running: 8))
        try await store.markServed(["x", "y"])
        _ = try await store.submit(try submissions("""
            [{"id": "r", "name": "r", "executor": "x", "priority": 0},
             {"id": "n1", "name": "n1", "executor": "x", "parent_id": "r"},
             {"id": "n2", "name": "n2", "executor": "x", "parent_id": "r"},
             {"id": "l", "name": "l", "executor": "x", "parent_id": "r", "priority": 3}]
            """), userID: "u")
        _ = try await store.start(try await store.claim(executor: "x", count: 1, leaseMillis: 60_000), executor: "x")
        clock.advance(milliseconds: 1500)
        let agents = try await store.agents()
        #expect(agents.map(\.id) == ["a1", "a2"])
        #expect(agents[0].lastMinute == ["x": ["completed": 5, "failed": 1]] && agents[0].free == 3)
        let summaries = try await store.executorSummaries()
        let x = try #require(summaries.first { $0.executor == "x" })
        #expect(x.ready == [0, 0, 2, 1], "r was claimed; n1 and n2 at priority 2, l at 3")
        #expect(x.running == 1 && x.delayed == 0)
        #expect(x.agents == 2 && x.freeSlots == 3 && x.completedLastMinute == 5 && x.failedLastMinute == 1)
        #expect(x.oldestReadyAgeMillis == 1500)
        #expect(summaries.first { $0.executor == "y" }?.agents == 1)
        // An agent that stopped refreshing is gone after its record's lifetime.
        clock.advance(milliseconds: BatonStore.agentRecordMillis)
        #expect(try await store.agents().isEmpty)
        try await store.registerAgent(agent(store, "a3", executors: ["x"]))
        try await store.unregisterAgent("a3")
        #expect(try await store.agents().isEmpty)
    }

    @Test func treesAreListedNewestFirstByStatusWithACursor() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        for index in 0..<7 {
            clock.advance(milliseconds: 10)
            _ = try await store.submit(try submissions(#"[{"id": "t\#(index)", "name": "t", "executor": "x"}]"#), userID: index == 6 ? "other" : "u",
                                       execute: index % 2 == 0)
        }
        let first = try await store.listTrees(userID: "u", limit: 4)
        #expect(first.trees.map(\.id) == ["t5", "t4", "t3", "t2"])
        let next = try #require(first.nextCursor)
        // A tree created meanwhile does not shift the next page.
        clock.advance(milliseconds: 10)
        _ = try await store.submit(try submissions(#"[{"id": "t7", "name": "t", "executor": "x"}]"#), userID: "u")
        let second = try await store.listTrees(userID: "u", limit: 4, cursor: next)
        #expect(second.trees.map(\.id) == ["t1", "t0"] && second.nextCursor == nil)
        #expect(try await store.listTrees(userID: nil, limit: 100).trees.count == 8, "an admin sees every user's")
        let pending = try await store.listTrees(userID: "u", status: "pending", limit: 100)
        #expect(Set(pending.trees.map(\.id)) == ["t0", "t1", "t2", "t3", "t4", "t5", "t7"])
        await #expect(throws: BatonError.self) { _ = try await store.listTrees(userID: "u", cursor: "not a cursor") }
    }
}
