import BatonCore
import BatonStore
import Foundation
import RedisClient
import Testing

/// One transition at a time: seed with `submit`, run one script call with the fixed clock, then
/// check the whole resulting key space — which keys changed, every field of them, and the
/// stream entries written.
@Suite struct ScriptTests {
    /// The clock advances between seeding and the transition, so the transition's timestamps
    /// are told apart from the seed's.
    static let step: Int64 = 7_000

    // MARK: Completion

    @Test func completionEmitsEventAndMergesResultIntoDependent() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        let keys = store.keys
        _ = try await store.submit(try submissions(#"""
            [{"id": "a", "name": "a", "executor": "x"},
             {"id": "b", "name": "b", "executor": "y", "dependencies": ["a"],
              "inputs": {"a": "declared", "x": 1, "s": "}{\"]"}}]
            """#), userID: "u")
        let started = try await claimAndStart(store, executor: "x")
        let startedAt = clock.now
        clock.advance(milliseconds: Self.step)
        let now = clock.now
        let before = try await keySpace(store)
        let hashA = try await taskHash(store, "a", "a")
        let hashB = try await taskHash(store, "a", "b")
        let tree = try await hash(store, keys.tree("a"))

        let result: JSONValue = ["k": [1, 2], "e": []]
        let outputs = try await store.apply([Report.completed(started[0], result: result)])
        let after = try await keySpace(store)

        #expect(changedKeys(before, after) == [
            keys.task("a", "a"), keys.task("a", "b"), keys.tree("a"), keys.treeEvents("a"),
            keys.leases("x"), keys.ready("y"), keys.readySequence("y"), keys.marker("y"),
        ])
        var expectedA = hashA
        expectedA["status"] = "completed"
        expectedA["result"] = #"{"e":[],"k":[1,2]}"#
        expectedA["progress"] = "1"
        expectedA["completed_at"] = String(now)
        expectedA["updated_at"] = String(now)
        #expect(try await taskHash(store, "a", "a") == expectedA)
        #expect(expectedA["started_at"] == String(startedAt) && expectedA["attempt"] == "1")

        let newB = try await taskHash(store, "a", "b")
        #expect(try JSONValue(parsing: newB["inputs"] ?? "") == ["a": result, "x": 1, "s": "}{\"]"])
        #expect(newB["inputs"]?.contains(#""e":[]"#) == true)
        var expectedB = hashB
        expectedB["inputs"] = newB["inputs"]
        expectedB["queued"] = "1"
        expectedB["waiting"] = "0"
        expectedB["updated_at"] = String(now)
        #expect(newB == expectedB)
        #expect(hashB["queued"] == "0" && hashB["waiting"] == "1")

        var expectedTree = tree
        expectedTree["n_in_progress"] = "0"
        expectedTree["n_completed"] = "1"
        expectedTree["progress_sum"] = "1"
        #expect(try await hash(store, keys.tree("a")) == expectedTree)
        #expect(tree["status"] == "in_progress" && tree["n_pending"] == "1")

        let emitted = try await events(store, "a").suffix(1)
        #expect(emitted.map(\.fields) == [[
            "type": "task_completed", "tree_id": "a", "task_id": "a", "status": "completed",
            "timestamp": String(now), "result": #"{"e":[],"k":[1,2]}"#, "progress": "1",
        ]])
        #expect(try await zset(store, keys.ready("y")).map { "\($0.member) \($0.score)" } == ["a\tb \(readyScore(priority: 2, sequence: 1))"])
        #expect(try await store.redis.send("GET", keys.readySequence("y")).string == "1")
        #expect(try await members(store, keys.marker("y")) == ["1"])
        #expect(after[keys.leases("x")] == nil)

        #expect(outputs.ready.map { "\($0.treeID) \($0.taskID) \($0.executor) \($0.priority)" } == ["a b y 2"])
        #expect(outputs.leases.map { "\($0.treeID) \($0.taskID) \($0.executor)" } == ["a a x"])
        #expect(outputs.finished.isEmpty && outputs.notifications.isEmpty && outputs.delayed.isEmpty)

        let next = try await claimAndStart(store, executor: "y")
        #expect(next.first?.inputs == ["a": result, "x": 1, "s": "}{\"]"])
    }

    @Test func resultMergeKeepsEveryShape() async throws {
        let store = try makeStore(clock: TestClock())
        let results: [(String, JSONValue)] = [
            ("dict", ["a": ["b": []], "c": "{]"]),
            ("list", [1, "two", [], .object([:]), [[]]]),
            ("scalar", 42),
            ("float", 2.5),
            ("text", "he said \"hi\" }{ ] \\"),
            ("nothing", nil),
            ("empty", []),
            ("emptyobj", .object([:])),
            ("bool", false),
            ("dir/ünï \"q\"", "key needs escaping"),  // Lua's cjson writes the key as "dir\/ünï \"q\""
        ]
        var items = results.map { TaskSubmission(id: $0.0, name: $0.0, executor: "x") }
        items.append(TaskSubmission(id: "opt", name: "opt", executor: "x"))
        items.append(TaskSubmission(
            id: "sink", name: "sink", executor: "sink",
            dependencies: results.map { TaskSubmission.DependencyReference.id($0.0) } + [.id("opt", required: false)],
            inputs: ["dict": "declared", "empty": "declared", "dir/ünï \"q\"": "declared", "opt": "declared", "keep": ["a": "]}\"{"], "zzz": [1]]))
        _ = try await store.submit(items, userID: "u")

        let started = try await claimAndStart(store, executor: "x")
        #expect(started.count == results.count + 1)
        let byID = Dictionary(uniqueKeysWithValues: started.map { ($0.taskID, $0) })
        var reports = results.map { Report.completed(byID[$0.0]!, result: $0.1) }
        reports.append(Report.failed(byID["opt"]!, error: "optional failed"))
        let outputs = try await store.apply(reports)
        #expect(outputs.ready.map(\.taskID) == ["sink"])

        var expected: [String: JSONValue] = ["keep": ["a": "]}\"{"], "zzz": [1]]
        for (id, value) in results { expected[id] = value }
        let raw = try await taskHash(store, "dict", "sink")["inputs"] ?? ""
        #expect(try JSONValue(parsing: raw) == .object(expected))
        #expect(raw.contains(#""empty":[]"#) && raw.contains(#""nothing":null"#) && raw.contains(#""emptyobj":{}"#))
        #expect(!raw.contains(#""opt""#))
        let sink = try await claimAndStart(store, executor: "sink")
        #expect(sink.first?.inputs == .object(expected))
        #expect(try await store.task("sink", userID: "u").inputs == .object(expected))
    }

    @Test func fanOutReleasesEveryDependentInOneApply() async throws {
        let store = try makeStore(clock: TestClock())
        let keys = store.keys
        var items = [TaskSubmission(id: "root", name: "root", executor: "x")]
        for i in 0..<6 {
            items.append(TaskSubmission(id: "c\(i)", name: "c\(i)", executor: i % 2 == 0 ? "p" : "q",
                                        priority: i % 4, dependencies: [.id("root")]))
        }
        _ = try await store.submit(items, userID: "u")
        let started = try await claimAndStart(store, executor: "x")
        let outputs = try await store.apply([Report.completed(started[0], result: "r")])

        #expect(outputs.ready.map(\.taskID) == ["c0", "c1", "c2", "c3", "c4", "c5"])
        #expect(outputs.ready.map(\.priority) == [0, 1, 2, 3, 0, 1])
        for i in 0..<6 {
            let task = try await taskHash(store, "root", "c\(i)")
            #expect(task["queued"] == "1" && task["waiting"] == "0" && task["inputs"] == #"{"root":"r"}"#)
        }
        // strict priority, then FIFO: c4 was released after c0 but both are urgent
        #expect(try await members(store, keys.ready("p")) == ["root\tc0", "root\tc4", "root\tc2"])
        #expect(try await members(store, keys.ready("q")) == ["root\tc1", "root\tc5", "root\tc3"])
        let p = try await claimAndStart(store, executor: "p")
        let q = try await claimAndStart(store, executor: "q")
        #expect(p.map(\.taskID) == ["c0", "c4", "c2"] && q.map(\.taskID) == ["c1", "c5", "c3"])
    }

    // MARK: Stale and replayed reports

    @Test func staleReportsChangeNothing() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        _ = try await store.submit(try submissions("""
            [{"id": "a", "name": "a", "executor": "x", "max_attempts": 3},
             {"id": "b", "name": "b", "executor": "x", "dependencies": ["a"]}]
            """), userID: "u")
        let started = try await claimAndStart(store, executor: "x")
        #expect(started.map(\.attempt) == [1])
        clock.advance(milliseconds: Self.step)
        let before = try await keySpace(store)

        func report(_ kind: Report.Kind, _ task: String, attempt: Int, _ data: String = "") -> Report {
            Report(kind: kind, treeID: "a", taskID: task, attempt: attempt, data: data)
        }
        let outputs = try await store.apply([
            report(.completed, "a", attempt: 2, "\"late\""),
            report(.completed, "a", attempt: 0, "\"early\""),
            report(.failed, "a", attempt: 2, "stale failure"),
            report(.progress, "a", attempt: 5, "0.5"),
            report(.completed, "b", attempt: 0, "1"),  // never started
            report(.completed, "b", attempt: 1, "1"),
            report(.failed, "ghost", attempt: 1, "no such task"),
        ])
        expectUnchanged(before, try await keySpace(store))
        #expect(outputs == TreeOutputs())
    }

    @Test func replayedCompletionChangesNothingButReReportsQueuedDependents() async throws {
        let store = try makeStore(clock: TestClock())
        let keys = store.keys
        _ = try await store.submit(try submissions("""
            [{"id": "a", "name": "a", "executor": "x"},
             {"id": "b", "name": "b", "executor": "y", "dependencies": ["a"]},
             {"id": "c", "name": "c", "executor": "x", "dependencies": ["a"]}]
            """), userID: "u")
        let started = try await claimAndStart(store, executor: "x")
        let report = Report.completed(started[0], result: ["done": true])
        try await store.apply([report])
        // another tree's task reaches queue y after b did, at the same priority
        _ = try await store.submit(try submissions(#"[{"id": "later", "name": "later", "executor": "y"}]"#), userID: "u")
        let before = try await keySpace(store)

        let outputs = try await store.apply([report])
        #expect(Set(outputs.ready.map(\.taskID)) == ["b", "c"])
        #expect(outputs.leases.isEmpty && outputs.finished.isEmpty)
        // sequence counters may advance; nothing else moves, queue positions included
        expectUnchanged(before, try await keySpace(store), ignoring: [keys.readySequence("x"), keys.readySequence("y")])
        let claimed = try await store.claim(executor: "y", count: 10, leaseMillis: 10_000)
        #expect(claimed.map(\.taskID) == ["b", "later"])
        #expect(Set(try await store.start(claimed, executor: "y").map(\.taskID)) == ["b", "later"])

        // once the dependents run, a replay re-reports nothing
        #expect(try await claimAndStart(store, executor: "x").map(\.taskID) == ["c"])
        let running = try await keySpace(store)
        let quiet = try await store.apply([report])
        #expect(quiet.ready.isEmpty)
        expectUnchanged(running, try await keySpace(store))
    }

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
            keys.tree("a"), keys.treeEvents("a"), keys.leases("x"), keys.ready("x"), keys.readySequence("x"),
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
        #expect(try await zset(store, keys.delayed("x")).map { "\($0.member) \($0.score)" } == ["1\tr\tr \(due)"])
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
        #expect(try await members(store, keys.delayed("x")) == ["2\tr\tr"])
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
        let expired = try await store.expiredLeases(executor: "x")
        #expect(expired.map(\.taskID) == ["r"])
        let outputs = try await store.apply(expired.map { Report(kind: .expired, treeID: $0.treeID, taskID: $0.taskID, attempt: 0) })
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
        let expired = try await store.expiredLeases(executor: "x")
        try await store.apply(expired.map { Report(kind: .expired, treeID: $0.treeID, taskID: $0.taskID, attempt: 0) })

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
