import BatonCore
import BatonStore
import Testing

/// Priorities, dependencies versus priorities, result merging and cross-tree dependencies.
@Suite("Scheduling")
struct SchedulingTests {
    /// Submitted while no agent runs, then one agent with one slot: tasks start in priority
    /// order, first submitted first within a priority (2 is the default).
    @Test func priorityOrderWithOneAgent() async throws {
        try await withDeployment(agents: []) { d in
            let specs: [(id: String, priority: Int?)] = [
                ("p2-a", 2), ("p3-a", 3), ("p0-a", 0), ("p1-a", 1), ("p2-b", 2),
                ("p0-b", 0), ("p-default", nil), ("p3-b", 3), ("p1-b", 1),
            ]
            let body = specs.map { spec in
                let priority = spec.priority.map { #", "priority": \#($0)"# } ?? ""
                return #"{"id": "\#(spec.id)", "name": "\#(spec.id)", "executor": "echo_executor"\#(priority), "inputs": {"ret": "\#(spec.id)"}}"#
            }.joined(separator: ",")
            let submitted = try await d.submit("[\(body)]")
            // Nothing runs without an agent.
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await d.store.tree(submitted.treeID, userID: nil).tasks.allSatisfy { $0.status == .pending })

            try d.startAgent(AgentSpec(executors: ["echo_executor"], concurrency: 1))
            let tree = try await d.waitForTree(submitted.treeID)
            let events = try await d.events(submitted.treeID)
            #expect(tree.tree.status == "completed", "\(tree.summary)\n\(d.diagnostics())")
            let expected = ["p0-a", "p0-b", "p1-a", "p1-b", "p2-a", "p2-b", "p-default", "p3-a", "p3-b"]
            #expect(events.startOrder == expected, "\(events.summary)")
            // The records agree with the stream.
            let starts = try expected.map { try tree.requireTask($0).startedMillis() }
            #expect(starts == starts.sorted(), "started_at not in priority order:\n\(tree.summary)")
            #expect(try tree.requireTask("p-default").priority == 2)
            expectConsistentEvents(events, tree)
        }
    }

    /// A priority-0 task that depends on a priority-3 task runs after it, even though
    /// priority-2 tasks are taken before the priority-3 one.
    @Test func dependencyBeatsPriority() async throws {
        try await withDeployment(agents: []) { d in
            let submitted = try await d.submit("""
                [{"id": "urgent", "name": "urgent", "executor": "echo_executor", "priority": 0, "dependencies": ["low"]},
                 {"id": "low", "name": "low", "executor": "echo_executor", "priority": 3, "inputs": {"ret": "low-result"}},
                 {"id": "normal-1", "name": "normal-1", "executor": "echo_executor", "priority": 2},
                 {"id": "normal-2", "name": "normal-2", "executor": "echo_executor", "priority": 2}]
                """)
            try d.startAgent(AgentSpec(executors: ["echo_executor"], concurrency: 1))
            let tree = try await d.waitForTree(submitted.treeID)
            let events = try await d.events(submitted.treeID)
            #expect(tree.tree.status == "completed", "\(tree.summary)\n\(d.diagnostics())")
            #expect(events.startOrder == ["normal-1", "normal-2", "low", "urgent"], "\(events.summary)")
            try expectRanAfter("urgent", "low", in: tree, events: events)
            #expect(try tree.requireTask("urgent").inputs == ["low": "low-result"])
            expectConsistentEvents(events, tree)
        }
    }

    /// Results of every JSON shape are merged verbatim under their producer's id (lists stay
    /// lists, integers stay integers, `null` is a present key), and a declared input with a
    /// dependency's id is overwritten while other inputs stay.
    @Test func resultMergeShapes() async throws {
        try await withDeployment { d in
            let producers: [(id: String, ret: String)] = [
                ("d_dict", #"{"a": 1, "nested": {"b": [1, 2, {"c": null}]}, "s": "x\"y"}"#),
                ("d_list", #"[1, "two", 3.5, null, [], {}]"#),
                ("d_int", "42"),
                ("d_float", "2.5"),
                ("d_string", #""text""#),
                ("d_bool", "false"),
                ("d_null", "null"),
                ("d_empty_list", "[]"),
                ("d_empty_object", "{}"),
            ]
            let tasks = producers.map {
                #"{"id": "\#($0.id)", "name": "\#($0.id)", "executor": "echo_executor", "parent_id": "consumer", "inputs": {"ret": \#($0.ret)}}"#
            }
            let dependencies = producers.map { #"{"id": "\#($0.id)", "required": true}"# }.joined(separator: ",")
            let consumer = """
                {"id": "consumer", "name": "consumer", "executor": "echo_executor",
                 "inputs": {"d_list": "declared, to be overwritten", "d_null": "declared too", "keep": {"k": [true]}},
                 "dependencies": [\(dependencies)]}
                """
            let submitted = try await d.submit("[\(([consumer] + tasks).joined(separator: ","))]")
            let tree = try await d.waitForTree(submitted.treeID)
            #expect(tree.tree.status == "completed", "\(tree.summary)\n\(d.diagnostics())")

            var expected: [String: JSONValue] = ["keep": ["k": [true]]]
            for producer in producers {
                let value = try json(producer.ret)
                expected[producer.id] = value
                #expect(try tree.requireTask(producer.id).result == value, "result of \(producer.id)")
            }
            let merged = try tree.requireTask("consumer")
            #expect(merged.inputs == .object(expected), "merged inputs: \(merged.inputs)")
            #expect(merged.result == .object(expected), "the executor received the merged inputs")
            #expect(merged.inputs["d_int"] == .int(42))
            #expect(merged.inputs["d_list"]?[4] == .array([]))
            #expect(merged.inputs["d_null"] == .null)
            expectConsistentEvents(try await d.events(submitted.treeID), tree)
        }
    }

    /// A task of tree B depends on a task of tree A (same user): it waits for it, then receives
    /// its result. A tree submitted after A finished resolves at once; another user's task
    /// cannot be depended on.
    @Test func crossTreeDependency() async throws {
        try await withDeployment { d in
            let a = try await d.submit("""
                [{"id": "a-root", "name": "a-root", "executor": "sleep_executor", "inputs": {"seconds": 0.6}}]
                """)
            let b = try await d.submit("""
                [{"id": "b-root", "name": "b-root", "executor": "echo_executor", "inputs": {"from": "B"},
                  "dependencies": [{"id": "a-root", "required": true}]}]
                """)
            let treeB = try await d.waitForTree(b.treeID)
            let treeA = try await d.waitForTree(a.treeID)
            #expect(treeA.tree.status == "completed", "\(treeA.summary)\n\(d.diagnostics())")
            #expect(treeB.tree.status == "completed", "\(treeB.summary)\n\(d.diagnostics())")
            let producer = try treeA.requireTask("a-root")
            let consumer = try treeB.requireTask("b-root")
            #expect(try consumer.startedMillis() >= producer.completedMillis(), "\(treeA.summary)\n\(treeB.summary)")
            let result = try #require(producer.result)
            #expect(consumer.inputs == ["from": "B", "a-root": result])
            #expect(consumer.treeID == "b-root")
            expectConsistentEvents(try await d.events(b.treeID), treeB)

            // Submitted after the producer finished: released at once, with the result.
            let c = try await d.submit(#"[{"id": "c-root", "name": "c-root", "executor": "echo_executor", "dependencies": ["a-root"]}]"#)
            let treeC = try await d.waitForTree(c.treeID)
            #expect(treeC.tree.status == "completed", "\(treeC.summary)")
            #expect(try treeC.requireTask("c-root").inputs == ["a-root": result])

            // Another user's task is not a valid dependency.
            await #expect(throws: BatonError.self) {
                try await d.submit(#"[{"id": "bob-1", "name": "bob-1", "executor": "echo_executor", "dependencies": ["a-root"]}]"#, user: "bob")
            }
        }
    }
}
