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
            keys.leases("x"), keys.ready("y"), keys.fair(ExecutorQueue(executor: "y")), keys.marker("y"),
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
        #expect(try await zset(store, keys.ready("y")).map { "\($0.member) \($0.score)" } == ["a\tb \(readyScore(priority: 2, sequence: 0))"])
        #expect(try await store.redis.send("HGET", keys.fair(ExecutorQueue(executor: "y")), "2\tu").string == "1")
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

    /// The scheduler may die after applying a final failure and before dispatching what it
    /// released (`apply.after-script`): the replayed report must release again the dependent whose
    /// optional dependency failed, and notify again the other tree's dependent of a task the
    /// failure blocked — and change nothing stored.
    @Test func replayedFailureReReportsWhatItReleasedAndBlocked() async throws {
        let store = try makeStore(clock: TestClock())
        let keys = store.keys
        _ = try await store.submit(try submissions("""
            [{"id": "a", "name": "a", "executor": "x"},
             {"id": "b", "name": "b", "executor": "y", "dependencies": [{"id": "a", "required": false}]},
             {"id": "c", "name": "c", "executor": "y", "dependencies": ["a"]}]
            """), userID: "u")
        _ = try await store.submit(try submissions(#"[{"id": "e", "name": "e", "executor": "y", "dependencies": ["c"]}]"#), userID: "u")
        let started = try await claimAndStart(store, executor: "x")
        let report = Report.failed(started[0], error: "for good")
        let first = try await store.apply([report])
        #expect(first.ready.map(\.taskID) == ["b"])
        #expect(first.notifications.map { [$0.taskID, $0.dependencyID, $0.state] } == [["e", "c", "blocked"]])
        #expect(try await store.task("e", userID: "u").blockedBy == "a")
        let before = try await keySpace(store)

        let replayed = try await store.apply([report])
        #expect(replayed.ready.map(\.taskID) == ["b"])
        #expect(replayed.notifications.map { [$0.taskID, $0.dependencyID, $0.state, $0.cause] } == [["e", "c", "blocked", "a"]])
        #expect(replayed.leases.map(\.taskID) == ["a"] || replayed.leases.isEmpty)
        expectUnchanged(before, try await keySpace(store), ignoring: [keys.readySequence("y")])
        // b is queued once, whatever the replays
        let claimed = try await store.claim(executor: "y", count: 10, leaseMillis: 10_000)
        #expect(claimed.map(\.taskID) == ["b"])
    }

    /// Issue 13: an agent applies its own report and claims, in the enqueue call, the dependent
    /// it released; the scheduler's replay of the same report afterwards changes nothing — the
    /// claimed dependent is not queued again (a second agent could otherwise claim it too).
    @Test func aReplayedReportAfterAnAgentsOwnApplyChangesNothing() async throws {
        let store = try makeStore(clock: TestClock())
        let keys = store.keys
        _ = try await store.submit(try submissions("""
            [{"id": "a", "name": "a", "executor": "x"},
             {"id": "b", "name": "b", "executor": "x", "dependencies": ["a"], "priority": 1},
             {"id": "c", "name": "c", "executor": "y", "dependencies": ["a"]}]
            """), userID: "u")
        let started = try await claimAndStart(store, executor: "x")
        let report = Report.completed(started[0], result: ["done": true])
        var offered: [ExecutorQueue: Int] = [:]
        let claimed = try await store.applyOwn([report], leaseMillis: 10_000) { released in
            offered = released
            return [ExecutorQueue(executor: "x"): 4, ExecutorQueue(executor: "y"): 0]
        }.claimed
        #expect(offered == [ExecutorQueue(executor: "x"): 1, ExecutorQueue(executor: "y"): 1])
        #expect(claimed[ExecutorQueue(executor: "x")]?.map(\.taskID) == ["b"])
        #expect(try await store.task("b", userID: "u").status == .pending)
        // the report is on the bus for the schedulers, with the lease of a's attempt gone
        #expect(try await store.redis.send("ZSCORE", keys.leases("x"), Keys.member(tree: "a", task: "a")).isNull)
        #expect(try await store.redis.send("ZSCORE", keys.leases("x"), Keys.member(tree: "a", task: "b")).isNull == false)
        let before = try await keySpace(store)

        let replayed = try await store.apply([report])
        #expect(Set(replayed.ready.map(\.taskID)) == ["b", "c"])
        expectUnchanged(before, try await keySpace(store), ignoring: [keys.readySequence("x"), keys.readySequence("y")])
        #expect(try await store.claim(executor: "x", count: 10, leaseMillis: 10_000).isEmpty, "b is not queued twice")
        #expect(try await store.start(claimed[ExecutorQueue(executor: "x")] ?? [], from: ExecutorQueue(executor: "x")).map(\.taskID) == ["b"])
    }

    /// An agent's own apply of reports of two trees, one of which a script refuses (its event
    /// stream key holds a string): the other tree's report is applied and its dependent claimed,
    /// and the refusal is returned, not thrown — the agent must not send the batch for ever.
    @Test func anAgentsOwnApplyRefusesOneTreeAndAppliesTheOthers() async throws {
        let store = try makeStore(clock: TestClock())
        let keys = store.keys
        _ = try await store.submit(try submissions("""
            [{"id": "a", "name": "a", "executor": "x"},
             {"id": "b", "name": "b", "executor": "x", "dependencies": ["a"]}]
            """), userID: "u")
        _ = try await store.submit(try submissions(#"[{"id": "z", "name": "z", "executor": "x"}]"#), userID: "u")
        let started = try await claimAndStart(store, executor: "x")
        #expect(Set(started.map(\.taskID)) == ["a", "z"])
        _ = try await store.redis.send("DEL", keys.treeEvents("z"))
        _ = try await store.redis.send("SET", keys.treeEvents("z"), "not a stream")
        let applied = try await store.applyOwn(started.map { Report.completed($0, result: 1) }, leaseMillis: 10_000) { $0 }
        #expect(applied.refused?.code == .conflict, "\(String(describing: applied.refused))")
        #expect(applied.claimed[ExecutorQueue(executor: "x")]?.map(\.taskID) == ["b"])
        #expect(try await store.task("a", userID: "u").status == .completed)
        #expect(try await store.task("z", userID: "u").status == .inProgress)
    }
}
