import BatonCore
@testable import BatonStore
import Foundation
import RedisClient
import Testing

/// Cancellation, re-execution, copy, link, mixed and archive (SPEC "Cancellation",
/// "Re-execution", "Copy, link, archive, mixed", "Users and safety"), driven through the store
/// as a scheduler and an agent would, with a fixed clock.
@Suite struct KeySpaceTests {
    /// Claims, starts and completes every ready task of an executor, returning what ran.
    @discardableResult
    func runReady(_ store: BatonStore, _ executor: String = "x",
                  result: (StartedTask) -> JSONValue = { ["ran": .string($0.taskID), "inputs": $0.inputs] }) async throws -> [StartedTask] {
        let started = try await claimAndStart(store, executor: executor)
        try await store.apply(started.map { Report.completed($0, result: result($0)) })
        return started
    }

    /// Runs every ready task until nothing is ready, returning the ids in run order.
    func runAll(_ store: BatonStore, _ executor: String = "x") async throws -> [String] {
        var ran: [String] = []
        while true {
            let started = try await runReady(store, executor)
            if started.isEmpty { return ran }
            ran += started.map(\.taskID)
        }
    }

    static let pipeline = """
        [{"id": "fetch", "name": "fetch", "executor": "x", "inputs": {"url": "u"}},
         {"id": "parse", "name": "parse", "executor": "x", "parent_id": "fetch", "dependencies": ["fetch"], "inputs": {"k": 1}},
         {"id": "store", "name": "store", "executor": "x", "parent_id": "fetch", "dependencies": ["parse"]},
         {"id": "notify", "name": "notify", "executor": "x", "parent_id": "fetch", "dependencies": ["store"]}]
        """

    // MARK: Cancel a pending task

    @Test func cancelPendingBlocksRequiredDependentsAndReleasesOptionalOnes() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        let keys = store.keys
        _ = try await store.submit(try submissions("""
            [{"id": "a", "name": "a", "executor": "x"},
             {"id": "b", "name": "b", "executor": "x", "dependencies": ["a"]},
             {"id": "c", "name": "c", "executor": "y", "dependencies": [{"id": "a", "required": false}], "inputs": {"a": "declared"}},
             {"id": "d", "name": "d", "executor": "x", "dependencies": ["b"]}]
            """), userID: "u")
        clock.advance(milliseconds: 1_000)
        let outcome = try await store.cancel(taskID: "a", userID: "u")
        #expect(outcome == CancelOutcome(taskID: "a", status: "cancelled", stopConfirmed: true, message: "Cancellation requested"))
        #expect(outcome.jsonValue == ["task_id": "a", "status": "cancelled", "stop_confirmed": true, "message": "Cancellation requested"])

        let a = try await taskHash(store, "a", "a")
        #expect(a["status"] == "cancelled" && a["error"] == "Cancellation requested")
        #expect(a["completed_at"] == String(clock.now) && a["queued"] == "0")
        let tree = try await store.tree("a", userID: "u")
        #expect(try tree.task("b").blockedBy == "a" && tree.task("d").blockedBy == "a")
        #expect(tree.tree.counts["cancelled"] == 1 && tree.tree.counts["blocked"] == 2)
        // the optional dependent runs, without the cancelled task's key
        #expect(try await members(store, keys.ready("y")) == ["a\tc"])
        // the cancelled task's stale queue entry is dropped when an agent pops it
        #expect(try await claimAndStart(store, executor: "x").isEmpty)
        #expect(try await members(store, keys.leases("x")).isEmpty)
        let ranC = try await runReady(store, "y")
        #expect(ranC.first?.inputs == .object([:]))

        let finished = try await store.treeRecord("a", userID: "u")
        #expect(finished.status == "cancelled")
        let types = try await events(store, "a").map(\.type)
        #expect(types == ["task_created", "task_created", "task_created", "task_created", "task_cancelled",
                          "task_blocked", "task_blocked", "task_started", "task_completed", "tree_finished"])
        #expect(try await events(store, "a")[4].fields["error"] == "Cancellation requested")
    }

    @Test func cancelTerminalUnknownForeignAndArchivedAreRefused() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(#"[{"id": "a", "name": "a", "executor": "x"}, {"id": "b", "name": "b", "executor": "x"}]"#),
                                   userID: "alice")
        try await runReady(store)
        let before = try await keySpace(store)

        let terminal = await batonError { _ = try await store.cancel(taskID: "a", userID: "alice") }
        #expect(terminal?.code == .alreadyTerminal)
        #expect(terminal?.message == "Task a is already completed" && terminal?.currentStatus == "completed")
        #expect(terminal?.jsonValue["current_status"] == "completed")
        let unknown = await batonError { _ = try await store.cancel(taskID: "nope", userID: "alice") }
        let foreign = await batonError { _ = try await store.cancel(taskID: "a", userID: "bob") }
        #expect(unknown?.code == .notFound && unknown?.message == "Task nope not found")
        #expect(foreign?.code == .notFound && foreign?.message == "Task a not found")
        let foreignTree = await batonError { _ = try await store.cancelTree("a", userID: "bob") }
        #expect(foreignTree?.code == .notFound && foreignTree?.message == "Task tree a not found")
        expectUnchanged(before, try await keySpace(store))
        // an admin sees every tree: the tree is finished, nothing is left to cancel
        #expect(try await store.cancelTree("a", userID: nil).isEmpty)

        _ = try await store.archiveTree("a", userID: "alice")
        let archived = await batonError { _ = try await store.cancel(taskID: "b", userID: "alice") }
        #expect(archived?.code == .immutable && archived?.message == "Archived task b is immutable; copy it before editing")
        let archivedTree = await batonError { _ = try await store.cancelTree("a", userID: nil) }
        #expect(archivedTree?.code == .immutable)
    }

    // MARK: Cancel a running task

    @Test func cancelRunningSignalsTheAgentAndKeepsThePartialResult() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        let keys = store.keys
        _ = try await store.submit(try submissions("""
            [{"id": "run", "name": "run", "executor": "x"}, {"id": "next", "name": "next", "executor": "x", "dependencies": ["run"]}]
            """), userID: "u")
        let subscriber = store.redis.makeShardedSubscriber()
        defer { subscriber.close() }
        try await subscriber.ssubscribe([keys.cancelChannel("x")])
        let started = try await claimAndStart(store, executor: "x")
        clock.advance(milliseconds: 500)
        let requestedAt = clock.now

        let outcome = try await store.cancel(taskID: "run", userID: "u", message: "user pressed stop")
        #expect(outcome.status == "cancelling" && !outcome.stopConfirmed)
        #expect(outcome.jsonValue["status"] == "cancelling" && outcome.jsonValue["stop_confirmed"] == false)
        var signal: String?
        for await event in subscriber.events {
            if case .message(let message) = event { signal = message.text; break }
        }
        #expect(signal == "run\trun\t1")
        let running = try await taskHash(store, "run", "run")
        #expect(running["status"] == "in_progress")
        #expect(running["cancel_requested_at"] == String(requestedAt) && running["cancel_message"] == "user pressed stop")
        #expect(try await store.task("run", userID: "u").cancelRequestedAt == Timestamp.rfc3339(millis: requestedAt))
        #expect(try await hash(store, keys.cancels("x")) == ["run\trun": "1"])
        // the heartbeat reports the request too (the path that survives a lost message)
        let beat = try await store.heartbeat(executor: "x", members: ["run\trun"], leaseMillis: 10_000)
        #expect(beat == HeartbeatOutcome(lost: [], cancelRequests: ["run\trun": 1]))
        // asking again keeps the first request
        clock.advance(milliseconds: 100)
        _ = try await store.cancel(taskID: "run", userID: "u", message: "again")
        #expect(try await taskHash(store, "run", "run")["cancel_message"] == "user pressed stop")
        #expect(try await events(store, "run").filter { $0.type == "cancel_requested" }.count == 1)

        try await store.apply([Report.cancelled(started[0], partial: ["done": 3])])
        let record = try await store.task("run", userID: "u")
        #expect(record.status == .cancelled && record.error == "user pressed stop" && record.result == ["done": 3])
        #expect(try await store.task("next", userID: "u").blockedBy == "run")
        #expect(try await members(store, keys.leases("x")).isEmpty)
        #expect(try await hash(store, keys.cancels("x")).isEmpty, "the request ends with the attempt's lease")
        #expect(try await store.treeRecord("run", userID: "u").status == "cancelled")
        let cancelled = try await events(store, "run").first { $0.type == "task_cancelled" }
        #expect(cancelled?.fields["error"] == "user pressed stop" && cancelled?.fields["result"] == #"{"done":3}"#)
    }

    @Test func lateOutcomesOfACancelledAttemptEndItCancelled() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        let keys = store.keys
        _ = try await store.submit(try submissions("""
            [{"id": "late", "name": "late", "executor": "x"},
             {"id": "flaky", "name": "flaky", "executor": "x", "max_attempts": 3},
             {"id": "lost", "name": "lost", "executor": "x"},
             {"id": "opt", "name": "opt", "executor": "y", "dependencies": [{"id": "late", "required": false}]}]
            """), userID: "u")
        let started = Dictionary(uniqueKeysWithValues: try await claimAndStart(store, executor: "x", leaseMillis: 1_000).map { ($0.taskID, $0) })
        #expect(try await store.cancelTree("late", userID: "u").map(\.status) == ["cancelling", "cancelling", "cancelling", "cancelled"])

        // an executor that ignored the request returns a result: discarded
        try await store.apply([Report.completed(started["late"]!, result: "too late")])
        let late = try await store.task("late", userID: "u")
        #expect(late.status == .cancelled && late.result == nil && late.error == "Cancellation requested")
        // a failure with attempts left is not retried
        try await store.apply([Report.failed(started["flaky"]!, error: "boom", partial: ["half": true])])
        let flaky = try await store.task("flaky", userID: "u")
        #expect(flaky.status == .cancelled && flaky.result == ["half": true] && flaky.error == "Cancellation requested")
        #expect(try await members(store, keys.delayed("x")).isEmpty)
        // a lost lease does not send it back to the queue
        clock.advance(milliseconds: 2_000)
        let expired = try await store.reapExpiredLeases(executor: "x", holdMillis: 30_000)
        #expect(expired.map(\.taskID) == ["lost"])
        try await store.apply(expired)
        #expect(try await store.task("lost", userID: "u").status == .cancelled)
        #expect(try await members(store, keys.ready("x")).isEmpty)
        // a replayed report changes nothing
        let before = try await keySpace(store)
        try await store.apply([Report.completed(started["late"]!, result: "replay")])
        expectUnchanged(before, try await keySpace(store))
        let tree = try await store.treeRecord("late", userID: "u")
        #expect(tree.status == "cancelled" && tree.counts["cancelled"] == 4)
    }

    @Test func aLostSignalStillReachesTheHeartbeat() async throws {
        let store = try makeStore(clock: TestClock())
        let keys = store.keys
        _ = try await store.submit(try submissions(#"[{"id": "t", "name": "t", "executor": "x"}]"#), userID: "u")
        let subscriber = store.redis.makeSubscriber()
        defer { subscriber.close() }
        try await subscriber.subscribe([keys.cancelChannel("x")])
        _ = try await claimAndStart(store, executor: "x")
        let outcome = try await store.cancel(taskID: "t", userID: "u", message: nil, publish: false)
        #expect(outcome.status == "cancelling")
        #expect(try await store.heartbeat(executor: "x", members: ["t\tt"], leaseMillis: 1_000).cancelRequests == ["t\tt": 1])
        // an old attempt's request does not stop a new attempt: agents compare attempts
        try await store.redis.send("HSET", keys.cancels("x"), "t\tt", "0")
        #expect(try await store.heartbeat(executor: "x", members: ["t\tt"], leaseMillis: 1_000).cancelRequests == ["t\tt": 0])
        // nothing was published
        try await store.redis.send("PUBLISH", keys.cancelChannel("x"), "marker")
        for await event in subscriber.events {
            if case .message(let message) = event {
                #expect(message.text == "marker")
                break
            }
        }
    }

    // MARK: Re-execution

    @Test func reexecuteFailedMiddleTaskResumesThePipeline() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        let keys = store.keys
        _ = try await store.submit(try submissions(Self.pipeline), userID: "u")
        try await runReady(store)
        let parse = try await claimAndStart(store, executor: "x")
        try await store.apply([Report.failed(parse[0], error: "bad input", partial: ["rows": 1])])
        let failed = try await store.tree("fetch", userID: "u")
        #expect(failed.tree.status == "failed" && failed.tree.finishedAt != nil)
        #expect(try failed.task("notify").blockedBy == "parse")
        clock.advance(milliseconds: 1_000)

        let reset = try await store.reexecute(taskID: "parse", userID: "u")
        #expect(reset == ["parse", "store", "notify"])
        let tree = try await store.tree("fetch", userID: "u")
        #expect(tree.tree.status == "in_progress" && tree.tree.finishedAt == nil)
        #expect(tree.tree.counts == ["pending": 3, "in_progress": 0, "completed": 1, "failed": 0, "cancelled": 0, "blocked": 0])
        let parseRecord = try tree.task("parse")
        #expect(parseRecord.status == .pending && parseRecord.result == nil && parseRecord.error == nil)
        #expect(parseRecord.startedAt == nil && parseRecord.completedAt == nil && parseRecord.attempt == 1)
        for id in ["store", "notify"] {
            #expect(try tree.task(id).blockedBy == nil)
            #expect(try await taskHash(store, "fetch", id)["waiting"] == "1")
        }
        #expect(try await members(store, keys.ready("x")) == ["fetch\tparse"])
        let resetEvents = try await events(store, "fetch").filter { $0.type == "task_reset" }
        #expect(resetEvents.map(\.taskID) == ["parse", "store", "notify"])
        #expect(resetEvents.allSatisfy { $0.fields["status"] == "pending" && $0.fields["timestamp"] == String(clock.now) })

        #expect(try await runAll(store) == ["parse", "store", "notify"])
        let done = try await store.tree("fetch", userID: "u")
        #expect(done.tree.status == "completed" && done.tree.progress == 1)
        #expect(try done.task("fetch").attempt == 1, "completed work is not run again")
        #expect(try done.task("parse").attempt == 2)
        #expect(try done.task("parse").inputs == ["k": 1, "fetch": ["ran": "fetch", "inputs": ["url": "u"]]])
        #expect(try await events(store, "fetch").filter { $0.type == "tree_finished" }.map { $0.fields["status"] } == ["failed", "completed"])
    }

    @Test func reexecuteIsRefusedForRunningPendingCompletedLinksAndArchives() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.pipeline), userID: "u")
        let before = try await keySpace(store)
        let pending = await batonError { _ = try await store.reexecute(taskID: "parse", userID: "u") }
        #expect(pending?.code == .conflict)
        let foreign = await batonError { _ = try await store.reexecute(taskID: "parse", userID: "eve") }
        #expect(foreign?.code == .notFound && foreign?.message == "Task parse not found")
        expectUnchanged(before, try await keySpace(store))
        _ = try await claimAndStart(store, executor: "x")
        let running = await batonError { _ = try await store.reexecute(taskID: "fetch", userID: "u") }
        #expect(running?.code == .conflict)

        _ = try await store.submit(try submissions(#"[{"id": "solo", "name": "solo", "executor": "z", "max_attempts": 2}]"#), userID: "u")
        try await runReady(store, "z")
        let completed = await batonError { _ = try await store.reexecute(taskID: "solo", userID: "u") }
        #expect(completed?.code == .conflict)
        let link = try await store.linkTree("solo", userID: "u", ownerID: "u")
        let linked = await batonError { _ = try await store.reexecute(taskID: link.treeID, userID: "u", includeCompleted: true) }
        #expect(linked?.code == .conflict)
        #expect(try await store.reexecute(taskID: "solo", userID: "u", includeCompleted: true) == ["solo"])
        // max_attempts counts again from the re-execution
        let again = try await claimAndStart(store, executor: "z")
        #expect(again.first?.attempt == 2)
        try await store.apply([Report.failed(again[0], error: "flaky")])
        #expect(try await store.task("solo", userID: "u").status == .pending, "retried: attempt 2 is the first of this run")
        #expect(try await taskHash(store, "solo", "solo")["retry_at"] != nil)

        _ = try await store.submit(try submissions(#"[{"id": "old", "name": "old", "executor": "w"}]"#), userID: "u")
        try await runReady(store, "w")
        _ = try await store.archiveTree("old", userID: "u")
        let archived = await batonError { _ = try await store.reexecute(taskID: "old", userID: "u", includeCompleted: true) }
        #expect(archived?.code == .immutable && archived?.message == "Archived task old is immutable; copy it before editing")
    }

    @Test func reexecuteLeavesCompletedOptionalDependentsAndKeepsBlocksFromOtherFailures() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions("""
            [{"id": "a", "name": "a", "executor": "x"},
             {"id": "u", "name": "u", "executor": "x"},
             {"id": "opt", "name": "opt", "executor": "y", "dependencies": [{"id": "a", "required": false}]},
             {"id": "both", "name": "both", "executor": "y", "dependencies": ["a", "u"]},
             {"id": "tail", "name": "tail", "executor": "y", "dependencies": ["both"]}]
            """), userID: "me")
        let started = try await claimAndStart(store, executor: "x")
        try await store.apply(started.map { Report.failed($0, error: "down \($0.taskID)") })
        try await runReady(store, "y")
        #expect(try await store.treeRecord("a", userID: "me").status == "failed")

        #expect(try await store.reexecute(taskID: "a", userID: "me") == ["a", "both", "tail"])
        let tree = try await store.tree("a", userID: "me")
        #expect(try tree.task("opt").status == .completed, "a completed dependent is kept")
        #expect(try tree.task("both").blockedBy == "u", "still blocked by the other failed dependency")
        #expect(try tree.task("tail").blockedBy == "u")
        #expect(tree.tree.counts["blocked"] == 2 && tree.tree.counts["failed"] == 1)
        #expect(try await runAll(store) == ["a"])
        #expect(try await store.treeRecord("a", userID: "me").status == "failed")
    }

    // MARK: Slots

    /// ARCHITECTURE invariant 1 for the new scripts: every call's keys share one slot.
    @Test func newScriptCallsStayInOneSlot() throws {
        for namespace in ["baton", "ns:x", "app-prod"] {
            let keys = Keys(namespace: namespace)
            for executor in ["x", "rest executor", "{q}", "a}b"] {
                #expect(ClusterSlot.of(keys.leases(executor)) == ClusterSlot.of(keys.cancels(executor)), "requestCancel \(executor)")
            }
            for tree in ["t", "{t}", "ü"] {
                #expect(ClusterSlot.of(keys.tree(tree)) == ClusterSlot.of(keys.task(tree, "any")), "markReferences \(tree)")
            }
        }
        for script in [TreeScript.cancelTasks.script, TreeScript.reexecuteTask.script, TreeScript.archiveTree.script, TreeRecordScript.markReferences.script] {
            #expect(script.source.contains("string.sub(KEYS[1], 1, -5) .. 'task:'"), "\(script.name)")
            #expect(!script.source.contains("KEYS[4]"), "\(script.name) uses an undeclared KEYS slot")
        }
        #expect(!QueueScript.requestCancel.script.source.contains("KEYS[3]"))
    }
}

extension TreeSnapshot {
    /// The task with this id (a test failure when the tree has none).
    func task(_ id: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> TaskRecord {
        try #require(tasks.first { $0.id == id }, "tree \(tree.id) has no task \(id)", sourceLocation: sourceLocation)
    }
}
