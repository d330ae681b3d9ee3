import BatonCore
import BatonStore
import Foundation
import RedisClient
import Testing

/// `submit` and `startTree` against a real Redis: all or nothing, exact storage, queueing.
@Suite struct SubmitTests {
    /// A submission the store must refuse without leaving anything behind.
    struct Refusal: Sendable, CustomStringConvertible {
        var description: String
        var json: String
        var code: BatonError.Code
        var field: String?
    }

    static let refusals: [Refusal] = [
        Refusal(description: "duplicate name", json: """
            [{"id": "n1", "name": "same", "executor": "x"}, {"id": "n2", "name": "same", "executor": "x"}]
            """, code: .validationFailed, field: "tasks[1].name"),
        Refusal(description: "dependency cycle", json: """
            [{"id": "c0", "name": "c0", "executor": "x"},
             {"id": "c1", "name": "c1", "executor": "x", "dependencies": ["c2"]},
             {"id": "c2", "name": "c2", "executor": "x", "dependencies": [{"name": "c1"}]}]
            """, code: .validationFailed, field: "tasks[1].dependencies[0]"),
        // Many ids, so that reservations succeed in other buckets before the taken one is found.
        Refusal(description: "id taken by another tree", json: """
            [{"id": "new-root", "name": "r", "executor": "x"},
             {"id": "new-1", "name": "n1", "executor": "x"}, {"id": "new-2", "name": "n2", "executor": "x"},
             {"id": "new-3", "name": "n3", "executor": "x"}, {"id": "new-4", "name": "n4", "executor": "x"},
             {"id": "alice-2", "name": "taken", "executor": "x"},
             {"id": "new-5", "name": "n5", "executor": "x"}, {"id": "new-6", "name": "n6", "executor": "x"}]
            """, code: .alreadyExists, field: "tasks[5].id"),
        Refusal(description: "root id taken by a task of another tree", json: """
            [{"id": "alice-2", "name": "r", "executor": "x"}, {"id": "new-7", "name": "n7", "executor": "x"}]
            """, code: .alreadyExists, field: "tasks[0].id"),
        Refusal(description: "missing dependency", json: """
            [{"id": "m0", "name": "m0", "executor": "x"},
             {"id": "m1", "name": "m1", "executor": "x", "dependencies": ["m0", "nowhere"]}]
            """, code: .validationFailed, field: "tasks[1].dependencies[1]"),
        Refusal(description: "another user's task as dependency", json: """
            [{"id": "f0", "name": "f0", "executor": "x", "dependencies": [{"id": "bob-1", "required": false}]}]
            """, code: .validationFailed, field: "tasks[0].dependencies[0]"),
    ]

    /// Alice owns tree `alice-1` (`alice-1`, `alice-2`), Bob owns `bob-1`.
    func seeded() async throws -> BatonStore {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions("""
            [{"id": "alice-1", "name": "a1", "executor": "x"},
             {"id": "alice-2", "name": "a2", "executor": "x", "dependencies": ["alice-1"]}]
            """), userID: "alice")
        _ = try await store.submit(try submissions(#"[{"id": "bob-1", "name": "b1", "executor": "x"}]"#), userID: "bob")
        return store
    }

    @Test(arguments: refusals)
    func refusedSubmissionLeavesNoKeyBehind(_ refusal: Refusal) async throws {
        let store = try await seeded()
        let before = try await keySpace(store)
        let error = await batonError {
            _ = try await store.submit(try submissions(refusal.json), userID: "alice")
        }
        #expect(error?.code == refusal.code, "\(error.map(String.init(describing:)) ?? "no error")")
        #expect(error?.field == refusal.field)
        expectUnchanged(before, try await keySpace(store))
        #expect(try await store.treeID(ofTask: "alice-2") == "alice-1")
        #expect(try await store.treeID(ofTask: "bob-1") == "bob-1")
    }

    @Test func resubmittingATreeIsRefusedAndChangesNothing() async throws {
        let store = try await seeded()
        let before = try await keySpace(store)
        for json in [
            // the same array again (a retried request, or a replayed bus entry)
            """
            [{"id": "alice-1", "name": "a1", "executor": "x"},
             {"id": "alice-2", "name": "a2", "executor": "x", "dependencies": ["alice-1"]}]
            """,
            // another array whose root id is the existing tree's id
            #"[{"id": "alice-1", "name": "other", "executor": "y"}, {"id": "fresh", "name": "f", "executor": "y"}]"#,
        ] {
            let error = await batonError { _ = try await store.submit(try submissions(json), userID: "alice") }
            #expect(error?.code == .alreadyExists)
            expectUnchanged(before, try await keySpace(store))
        }
        #expect(try await store.treeID(ofTask: "alice-1") == "alice-1")
        #expect(try await store.treeID(ofTask: "alice-2") == "alice-1")
        #expect(try await store.treeID(ofTask: "fresh") == nil)
        #expect(try await store.task("alice-2", userID: "alice").name == "a2")
    }

    @Test func storedRecordsEqualWhatWasSubmitted() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        let items = try submissions(#"""
        [{"id": "root", "name": "Root ✓", "executor": "echo", "priority": 0,
          "inputs": {"nested": [[1, [2, []]], [], {}], "empty": [], "obj": {}, "unicode": "héllo 😀 \"quoted\" {brace} [x]",
                     "n": -12, "f": 1.5, "big": 9007199254740991, "t": true, "nil": null},
          "params": {"url": "https://example.com/a?b=c", "headers": {"X-Ü": "ü"}},
          "schemas": {"method": "ignored_because_executor_is_set", "input_schema": {"type": "object"}},
          "timeout_s": 2.5, "max_attempts": 3, "backoff": {"strategy": "exponential", "base_s": 0.5}},
         {"id": "child", "name": "child", "parent_id": "Root ✓", "executor": "echo",
          "dependencies": ["root", {"id": "root"}, {"name": "sibling", "required": false}, {"name": "Root ✓"}]},
         {"id": "sibling", "name": "sibling", "parent_id": "root", "schemas": {"method": "from_schemas"},
          "user_id": "mallory"}]
        """#)
        _ = try await store.submit(items, userID: "alice")
        var expected = try TreeValidator().validate(items, now: Timestamp.date(millis: clock.now)).tasks
        for index in expected.indices { expected[index].userID = "alice" }

        for record in expected {
            let stored = try await store.task(record.id, userID: "alice")
            #expect(stored == record)
        }
        let child = try await store.task("child", userID: nil)
        #expect(child.dependencies == [Dependency(id: "root"), Dependency(id: "sibling", required: false)])
        #expect(child.parentID == "root")
        #expect(try await store.task("sibling", userID: nil).executor == "from_schemas")
        #expect(try await store.task("sibling", userID: nil).userID == "alice")
        let root = try await store.task("root", userID: nil)
        #expect(root.hasChildren && root.createdAt == Timestamp.rfc3339(millis: clock.now))
        #expect(root.inputs["empty"] == .array([]) && root.inputs["obj"] == .object([:]))
        #expect(root.inputs["f"] == .double(1.5) && root.inputs["big"] == .int(9007199254740991))

        // the raw hash: compact JSON, epoch ms, engine fields
        let raw = try await taskHash(store, "root", "child")
        #expect(raw["waiting"] == "2" && raw["queued"] == "0" && raw["created_at"] == String(clock.now))
        #expect(raw["dependencies"] == #"[{"id":"root","required":true},{"id":"sibling","required":false}]"#)
        let rootRaw = try await taskHash(store, "root", "root")
        #expect(rootRaw["queued"] == "1" && rootRaw["dependents"] == "Rchild" && rootRaw["user_id"] == "alice")
        #expect(try await taskHash(store, "root", "sibling")["dependents"] == "Ochild")

        let tree = try await hash(store, store.keys.tree("root"))
        #expect(tree["id"] == "root" && tree["root_id"] == "root" && tree["user_id"] == "alice")
        #expect(tree["status"] == "pending" && tree["started"] == "1" && tree["origin_type"] == "create")
        #expect(tree["n_total"] == "3" && tree["n_pending"] == "3" && tree["n_blocked"] == "0")
        #expect(try await members(store, store.keys.treeTasks("root")) == ["root", "child", "sibling"])
        #expect(try await members(store, store.keys.userTrees("alice")) == ["root"])
        #expect(try await members(store, store.keys.allTrees) == ["root"])
        let created = try await events(store, "root")
        #expect(created.map(\.taskID) == ["root", "child", "sibling"])
        for event in created {
            #expect(event.fields == ["type": "task_created", "tree_id": "root", "task_id": event.taskID,
                                     "status": "pending", "timestamp": String(clock.now)])
        }
    }

    @Test func executeFalseStoresThenStartTreeQueuesReadyTasks() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions("""
            [{"id": "r", "name": "r", "executor": "x"},
             {"id": "free", "name": "free", "executor": "y", "parent_id": "r", "priority": 1},
             {"id": "dep", "name": "dep", "executor": "x", "parent_id": "r", "dependencies": ["r"]},
             {"id": "late", "name": "late", "executor": "x", "dependencies": ["dep", "free"]}]
            """), userID: "u", execute: false)
        #expect(try await members(store, store.keys.ready("x")).isEmpty)
        #expect(try await members(store, store.keys.ready("y")).isEmpty)
        #expect(try await hash(store, store.keys.tree("r"))["started"] == "0")
        #expect(try await taskHash(store, "r", "r")["queued"] == "0")
        #expect(try await store.claim(executor: "x", count: 10, leaseMillis: 1000).isEmpty)

        let missing = await batonError { try await store.startTree("r", userID: "intruder") }
        #expect(missing?.code == .notFound)
        #expect(try await hash(store, store.keys.tree("r"))["started"] == "0")

        try await store.startTree("r", userID: "u")
        let readyX = try await zset(store, store.keys.ready("x"))
        let readyY = try await zset(store, store.keys.ready("y"))
        #expect(readyX.map(\.member) == [Keys.member(tree: "r", task: "r")])
        #expect(readyY.map(\.member) == [Keys.member(tree: "r", task: "free")])
        #expect(readyY.first.map { $0.score >> 32 } == 1)
        #expect(try await hash(store, store.keys.tree("r"))["started"] == "1")
        let snapshot = try await keySpace(store).filter { !$0.key.hasSuffix(":seq") }

        // again: harmless (same tasks queued once, same records, no new events)
        try await store.startTree("r", userID: "u")
        #expect(try await members(store, store.keys.ready("x")) == readyX.map(\.member))
        #expect(try await members(store, store.keys.ready("y")) == readyY.map(\.member))
        expectUnchanged(snapshot, try await keySpace(store).filter { !$0.key.hasSuffix(":seq") })

        let x = try await claimAndStart(store, executor: "x")
        let y = try await claimAndStart(store, executor: "y")
        #expect(x.map(\.taskID) == ["r"] && y.map(\.taskID) == ["free"])
        try await store.apply((x + y).map { Report.completed($0, result: .string($0.taskID)) })
        let next = try await claimAndStart(store, executor: "x")
        #expect(next.map(\.taskID) == ["dep"])
        #expect(next.first?.inputs == ["r": "r"])
    }

    @Test func startTreeOfAnUnknownTreeIsNotFound() async throws {
        let store = try makeStore(clock: TestClock())
        let error = await batonError { try await store.startTree("nothing", userID: nil) }
        #expect(error?.code == .notFound)
        #expect(try await namespaceKeys(store).isEmpty)
    }

    @Test func apflowExecutorResolution() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions("""
            [{"id": "a", "name": "fetch data", "params": {"executor_id": "rest_executor", "url": "http://x"}},
             {"id": "b", "name": "run", "schemas": {"method": "command_executor"}, "params": {"executor_id": ""}},
             {"id": "c", "name": "system_info_executor"},
             {"id": "d", "name": "explicit", "executor": "echo", "params": {"executor_id": "rest_executor"}}]
            """), userID: "u")
        #expect(try await store.task("a", userID: "u").executor == "rest_executor")
        #expect(try await store.task("b", userID: "u").executor == "command_executor")
        #expect(try await store.task("c", userID: "u").executor == "system_info_executor")
        #expect(try await store.task("d", userID: "u").executor == "echo")
        #expect(try await members(store, store.keys.ready("rest_executor")) == [Keys.member(tree: "a", task: "a")])
        #expect(try await members(store, store.keys.ready("command_executor")) == [Keys.member(tree: "a", task: "b")])
        #expect(try await members(store, store.keys.ready("system_info_executor")) == [Keys.member(tree: "a", task: "c")])
        #expect(try await members(store, store.keys.ready("echo")) == [Keys.member(tree: "a", task: "d")])
        // Submitting registers nothing: the reaper sweeps the types agents serve.
        #expect(try await store.executorTypes() == [])
    }

    /// Issue 9, "bounded bookkeeping": the reaper's list is the types agents served lately, not
    /// every name ever submitted; a type nobody served for the window drops out of the sweep.
    @Test func theSweptTypesAreTheOnesAgentsServedLately() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        var typos: [String] = []
        for index in 0..<200 { typos.append(#"{"name": "t\#(index)", "executor": "typo_\#(index)"}"#) }
        _ = try await store.submit(try submissions("[" + typos.joined(separator: ",") + "]"), userID: "u")
        try await store.markServed(["echo_executor", "sleep_executor"])
        #expect(try await store.executorTypes() == ["echo_executor", "sleep_executor"])
        clock.advance(milliseconds: BatonStore.servedWindowMillis - 1)
        try await store.markServed(["sleep_executor"])
        #expect(try await store.executorTypes() == ["echo_executor", "sleep_executor"])
        clock.advance(milliseconds: 2)
        #expect(try await store.executorTypes() == ["sleep_executor"])
        clock.advance(milliseconds: BatonStore.servedMemoryMillis)
        try await store.markServed(["other"])
        #expect(try await zset(store, store.keys.executorsServed).map(\.member) == ["other"])
    }

    @Test(.timeLimit(.minutes(5)))
    func tenThousandTaskTree() async throws {
        let store = try makeStore(clock: TestClock())
        let count = 10_000
        // t0 is the root; every other task is its child and depends on t(i/2): a binary heap of
        // dependencies, so only t0 is ready at first.
        var items = [TaskSubmission(id: "t0", name: "t0", executor: "bulk")]
        for i in 1..<count {
            items.append(TaskSubmission(
                id: "t\(i)", name: "task \(i)", executor: i % 2 == 0 ? "bulk" : "bulk2", parentID: "t0",
                priority: i % 4, dependencies: [.id("t\(i / 2)")], inputs: ["i": .int(i)]))
        }
        let result = try await store.submit(items, userID: "u")
        #expect(result.treeID == "t0" && result.taskIDs.count == count)

        let tree = try await hash(store, store.keys.tree("t0"))
        #expect(tree["n_total"] == String(count) && tree["n_pending"] == String(count))
        #expect(try await store.redis.send("ZCARD", store.keys.treeTasks("t0")).int == count)
        #expect(try await members(store, store.keys.ready("bulk")) == [Keys.member(tree: "t0", task: "t0")])
        #expect(try await store.redis.send("ZCARD", store.keys.ready("bulk2")).int == 0)
        var indexed = 0
        for bucket in 0..<Keys.indexBuckets {
            indexed += try await store.redis.send("HLEN", store.keys.idIndex(bucket: bucket)).int ?? 0
        }
        #expect(indexed == count)
        let owners = try await store.treeIDs(ofTasks: ["t1", "t5000", "t9999"])
        #expect(owners == ["t0", "t0", "t0"])
        #expect(try await taskHash(store, "t0", "t1")["dependents"] == "Rt2\nRt3")
        let last = try await store.task("t9999", userID: "u")
        #expect(last.dependencies == [Dependency(id: "t4999")] && last.priority == 3 && last.inputs == ["i": 9999])
        #expect(try await taskHash(store, "t0", "t9999")["waiting"] == "1")
        let snapshot = try await store.tree("t0", userID: "u")
        #expect(snapshot.tasks.count == count)
        #expect(snapshot.tasks.map(\.id) == (0..<count).map { "t\($0)" })
        #expect(snapshot.tree.taskCount == count && snapshot.tree.counts["pending"] == count)

        // the first level runs and releases the next
        let started = try await claimAndStart(store, executor: "bulk")
        let outputs = try await store.apply(started.map { Report.completed($0, result: 0) })
        #expect(outputs.ready.map(\.taskID) == ["t1"])
    }
}
