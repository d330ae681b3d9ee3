import BatonCore
import BatonStore
import Testing

/// The seed guide's "Common Patterns", each run by real scheduler and agent processes.
@Suite("Engine patterns")
struct EnginePatternsTests {
    /// Pattern 1: step1 → step2 → step3; each step starts after the previous one finished and
    /// receives its result under the previous step's id.
    @Test func sequentialPipeline() async throws {
        try await withDeployment { d in
            let submitted = try await d.submit("""
                [{"id": "fetch", "name": "fetch", "executor": "sleep_executor", "inputs": {"seconds": 0.3}},
                 {"id": "process", "name": "process", "executor": "echo_executor", "parent_id": "fetch",
                  "inputs": {"operation": "analyze"}, "dependencies": [{"id": "fetch", "required": true}]},
                 {"id": "save", "name": "save", "executor": "echo_executor", "parent_id": "fetch",
                  "dependencies": ["process"]}]
                """)
            #expect(submitted.treeID == "fetch")
            let tree = try await d.waitForTree(submitted.treeID)
            let events = try await d.events(submitted.treeID)
            #expect(tree.tree.status == "completed", "\(tree.summary)\n\(d.diagnostics())")
            #expect(tree.tasks.allSatisfy { $0.status == .completed && $0.progress == 1 }, "\(tree.summary)")
            try expectRanAfter("process", "fetch", in: tree, events: events)
            try expectRanAfter("save", "process", in: tree, events: events)
            #expect(events.startOrder == ["fetch", "process", "save"])

            let fetched = try #require(try tree.requireTask("fetch").result)
            #expect(try #require(fetched["slept_s"]?.doubleValue) >= 0.3)
            let process = try tree.requireTask("process")
            #expect(process.inputs == .object(["operation": "analyze", "fetch": fetched]))
            #expect(process.result == process.inputs)
            #expect(try tree.requireTask("save").inputs == .object(["process": process.inputs]))
            #expect(try tree.requireTask("save").result == .object(["process": process.inputs]))
            #expect(tree.tree.progress == 1)
            expectConsistentEvents(events, tree)
        }
    }

    /// Pattern 2: children of a root without dependencies run in parallel, and the parent is no
    /// barrier: every task of the tree runs at the same time.
    @Test func fanOut() async throws {
        try await withDeployment(agents: [AgentSpec(concurrency: 4)]) { d in
            let submitted = try await d.submit("""
                [{"id": "root", "name": "root", "executor": "sleep_executor", "inputs": {"seconds": 0.6}},
                 {"id": "c1", "name": "c1", "executor": "sleep_executor", "parent_id": "root", "inputs": {"seconds": 0.6}},
                 {"id": "c2", "name": "c2", "executor": "sleep_executor", "parent_id": "root", "inputs": {"seconds": 0.6}},
                 {"id": "c3", "name": "c3", "executor": "sleep_executor", "parent_id": "root", "inputs": {"seconds": 0.6}}]
                """)
            let tree = try await d.waitForTree(submitted.treeID)
            #expect(tree.tree.status == "completed", "\(tree.summary)\n\(d.diagnostics())")
            let starts = try tree.tasks.map { try $0.startedMillis() }
            let ends = try tree.tasks.map { try $0.completedMillis() }
            // Every task started before any finished: all four ran at once.
            #expect(try #require(starts.max()) < (try #require(ends.min())), "not parallel:\n\(tree.summary)")
            for task in tree.tasks {
                #expect(task.parentID == (task.id == "root" ? nil : "root"))
                #expect(try #require(task.result?["slept_s"]?.doubleValue) >= 0.6)
                #expect(task.inputs == .object(["seconds": .double(0.6)]), "no dependency results merged")
            }
            expectConsistentEvents(try await d.events(submitted.treeID), tree)
        }
    }

    /// Pattern 3: three tasks converge on one; it starts after the last of them and receives
    /// every result under its producer's id, next to its own inputs.
    @Test func fanIn() async throws {
        try await withDeployment { d in
            let submitted = try await d.submit("""
                [{"id": "final", "name": "final", "executor": "aggregate_results_executor",
                  "inputs": {"label": "merged"},
                  "dependencies": [{"id": "t1", "required": true}, {"id": "t2", "required": true}, {"id": "t3", "required": true}]},
                 {"id": "t1", "name": "t1", "executor": "echo_executor", "parent_id": "final", "inputs": {"ret": {"rows": 3}}},
                 {"id": "t2", "name": "t2", "executor": "sleep_executor", "parent_id": "final", "inputs": {"seconds": 0.4}},
                 {"id": "t3", "name": "t3", "executor": "echo_executor", "parent_id": "final", "inputs": {"ret": ["a", "b"]}}]
                """)
            let tree = try await d.waitForTree(submitted.treeID)
            let events = try await d.events(submitted.treeID)
            #expect(tree.tree.status == "completed", "\(tree.summary)\n\(d.diagnostics())")
            for producer in ["t1", "t2", "t3"] {
                try expectRanAfter("final", producer, in: tree, events: events)
            }
            let slept = try #require(try tree.requireTask("t2").result)
            let expected: JSONValue = ["label": "merged", "t1": ["rows": 3], "t2": slept, "t3": ["a", "b"]]
            #expect(try tree.requireTask("final").inputs == expected)
            #expect(try tree.requireTask("final").result == expected)
            expectConsistentEvents(events, tree)
        }
    }

    /// Pattern 4: the complex workflow — task4 waits for tasks 1–3, final waits for task4 and
    /// task5; parent links to the root change nothing.
    @Test func complexWorkflow() async throws {
        try await withDeployment { d in
            let submitted = try await d.submit("""
                [{"id": "root", "name": "root", "executor": "echo_executor", "inputs": {"ret": "root"}},
                 {"id": "task1", "name": "task1", "executor": "echo_executor", "parent_id": "root", "inputs": {"ret": 1}},
                 {"id": "task2", "name": "task2", "executor": "sleep_executor", "parent_id": "root", "inputs": {"seconds": 0.3}},
                 {"id": "task3", "name": "task3", "executor": "echo_executor", "parent_id": "root", "inputs": {"ret": 3}},
                 {"id": "task4", "name": "task4", "executor": "aggregate_results_executor", "parent_id": "root",
                  "dependencies": [{"id": "task1", "required": true}, {"id": "task2", "required": true}, {"id": "task3", "required": true}]},
                 {"id": "task5", "name": "task5", "executor": "echo_executor", "parent_id": "root", "inputs": {"ret": 5}},
                 {"id": "final", "name": "final", "executor": "aggregate_results_executor", "parent_id": "root",
                  "params": {"dependency_ids": ["task4", "task5"]},
                  "dependencies": [{"id": "task4", "required": true}, {"id": "task5", "required": true}]}]
                """)
            let tree = try await d.waitForTree(submitted.treeID)
            let events = try await d.events(submitted.treeID)
            #expect(tree.tree.status == "completed", "\(tree.summary)\n\(d.diagnostics())")
            for producer in ["task1", "task2", "task3"] { try expectRanAfter("task4", producer, in: tree, events: events) }
            for producer in ["task4", "task5"] { try expectRanAfter("final", producer, in: tree, events: events) }
            let slept = try #require(try tree.requireTask("task2").result)
            let task4: JSONValue = ["task1": 1, "task2": slept, "task3": 3]
            #expect(try tree.requireTask("task4").result == task4)
            #expect(try tree.requireTask("final").result == ["task4": task4, "task5": 5])
            expectConsistentEvents(events, tree)
        }
    }

    /// Pattern 5: conditional execution — `success` depends optionally on a primary and a
    /// fallback; it waits until both reached a terminal state and gets both results.
    /// (The case of a failing primary is `FailureTests.optionalDependencyFailed`.)
    @Test func conditionalExecution() async throws {
        try await withDeployment { d in
            let submitted = try await d.submit("""
                [{"id": "success", "name": "success", "executor": "aggregate_results_executor",
                  "dependencies": [{"id": "primary", "required": false}, {"id": "fallback", "required": false}]},
                 {"id": "primary", "name": "primary", "executor": "sleep_executor", "parent_id": "success", "inputs": {"seconds": 0.5}},
                 {"id": "fallback", "name": "fallback", "executor": "echo_executor", "parent_id": "success", "inputs": {"ret": "cached"}}]
                """)
            let tree = try await d.waitForTree(submitted.treeID)
            let events = try await d.events(submitted.treeID)
            #expect(tree.tree.status == "completed", "\(tree.summary)\n\(d.diagnostics())")
            // Optional dependencies are waited for (apflow 0.24 would not wait for the slow primary).
            try expectRanAfter("success", "primary", in: tree, events: events)
            try expectRanAfter("success", "fallback", in: tree, events: events)
            let primary = try #require(try tree.requireTask("primary").result)
            #expect(try tree.requireTask("success").result == ["primary": primary, "fallback": "cached"])
            expectConsistentEvents(events, tree)
        }
    }

    /// Independent tasks of mixed priorities on one agent with two slots: two run at a time,
    /// never more, and they are taken in priority order (FIFO within a priority).
    @Test func parallelIndependentWithPriorities() async throws {
        try await withDeployment(agents: []) { d in
            let specs: [(id: String, priority: Int)] = [
                ("low-1", 3), ("normal-1", 2), ("high-1", 1), ("urgent-1", 0), ("low-2", 3), ("urgent-2", 0),
            ]
            let body = specs.map {
                #"{"id": "\#($0.id)", "name": "\#($0.id)", "executor": "sleep_executor", "priority": \#($0.priority), "inputs": {"seconds": 0.3}}"#
            }.joined(separator: ",")
            let submitted = try await d.submit("[\(body)]")
            try d.startAgent(AgentSpec(executors: ["sleep_executor"], concurrency: 2))
            let tree = try await d.waitForTree(submitted.treeID)
            let events = try await d.events(submitted.treeID)
            #expect(tree.tree.status == "completed", "\(tree.summary)\n\(d.diagnostics())")
            #expect(events.startOrder == ["urgent-1", "urgent-2", "high-1", "normal-1", "low-1", "low-2"],
                    "\(events.summary)")

            // At most two at once, and at some point two at once. An attempt runs from its
            // started_at for the time the executor measured (completed_at is when the scheduler
            // applied the report, which may be after the agent took its next task).
            let intervals = try tree.tasks.map { task -> (Int64, Int64) in
                let slept = try #require(task.result?["slept_s"]?.doubleValue, "\(task.id) has no slept_s")
                let start = try task.startedMillis()
                return (start, start + Int64((slept * 1000).rounded(.down)))
            }
            var most = 0
            for (start, _) in intervals {
                most = max(most, intervals.filter { $0.0 <= start && start < $0.1 }.count)
            }
            #expect(most == 2, "expected exactly two tasks at a time:\n\(tree.summary)")
            expectConsistentEvents(events, tree)
        }
    }
}
