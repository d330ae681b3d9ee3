import BatonCore
@testable import BatonStore
import Foundation
import Testing

/// Cancellation, re-execution, copy, link, archive and mixed (SPEC "Cancellation",
/// "Re-execution", "Copy, link, archive, mixed", "Users and safety") on real scheduler and agent
/// processes; the store calls are what the gateway and the CLI make.
@Suite("Cancel, re-execute, copy")
struct CancelAndCopyTests {
    // MARK: Cancel

    /// A pending task is cancelled at once; its required dependent stays blocked, its optional
    /// dependent runs without its key, the rest of the tree finishes, and the tree is `cancelled`.
    @Test func cancelPending() async throws {
        try await withDeployment { d in
            let submitted = try await d.submit("""
                [{"id": "first", "name": "first", "executor": "sleep_executor", "inputs": {"seconds": 3}},
                 {"id": "target", "name": "target", "executor": "echo_executor", "parent_id": "first", "dependencies": ["first"]},
                 {"id": "needs", "name": "needs", "executor": "echo_executor", "parent_id": "first", "dependencies": ["target"]},
                 {"id": "likes", "name": "likes", "executor": "echo_executor", "parent_id": "first",
                  "dependencies": [{"id": "target", "required": false}], "inputs": {"target": "declared", "own": 1}}]
                """)
            let outcome = try await d.store.cancel(taskID: "target", userID: "alice", message: "not needed")
            #expect(outcome.jsonValue == ["task_id": "target", "status": "cancelled", "stop_confirmed": true, "message": "not needed"])
            let tree = try await d.waitForTree(submitted.treeID)
            let events = try await d.events(submitted.treeID)
            let context = "\(tree.summary)\n\(events.summary)\n\(d.diagnostics())"
            #expect(tree.tree.status == "cancelled", "\(context)")
            let target = try tree.node("target")
            #expect(target.status == .cancelled && target.error == "not needed" && target.attempt == 0, "\(context)")
            #expect(try tree.node("needs").status == .pending && tree.node("needs").blockedBy == "target", "\(context)")
            #expect(try tree.node("likes").status == .completed, "\(context)")
            #expect(try tree.node("likes").result == ["own": 1], "the optional dependency contributes no key")
            #expect(try tree.node("first").status == .completed)
            #expect(events.of("task_cancelled", task: "target").first?["error"] == "not needed")
            #expect(events.of("task_started", task: "target").isEmpty)
            expectConsistentEvents(events, tree)
        }
    }

    /// A cooperative executor stops: the answer confirms the stop, the task is `cancelled` with the
    /// partial result it gave and the cancel message as error; its dependent is blocked.
    @Test func cancelRunningCooperative() async throws {
        try await withDeployment { d in
            let submitted = try await d.submit("""
                [{"id": "long", "name": "long", "executor": "sleep_executor", "inputs": {"seconds": 30}},
                 {"id": "after", "name": "after", "executor": "echo_executor", "parent_id": "long", "dependencies": ["long"]}]
                """)
            try await waitUntilRunning(d, "long")
            try await Task.sleep(for: .milliseconds(300))
            let asked = ContinuousClock.now
            let outcome = try await d.store.cancel(taskID: "long", userID: "alice")
            // The agent normally confirms within the store's confirm window (1.5 s); on a starved
            // machine the answer may still be `cancelling`, never a confirmed stop that did not happen.
            #expect(outcome.stopConfirmed == (outcome.status == "cancelled"), "\(outcome)")
            if outcome.status == "cancelled" { #expect(outcome.message == "Cancellation requested") }
            let tree = try await d.waitForTree(submitted.treeID)
            #expect(ContinuousClock.now - asked < .seconds(5), "stopped long before its 30 s")
            let long = try tree.node("long")
            #expect(long.status == .cancelled && long.error == "Cancellation requested", "\(tree.summary)")
            let slept = try #require(long.result?["slept_s"]?.doubleValue, "partial result \(String(describing: long.result))")
            #expect(slept >= 0.2 && slept < 5)
            #expect(long.cancelRequestedAt != nil)
            #expect(try tree.node("after").blockedBy == "long")
            #expect(tree.tree.status == "cancelled")
            let events = try await d.events(submitted.treeID)
            #expect(events.of("cancel_requested", task: "long").count == 1)
            expectConsistentEvents(events, tree)
        }
    }

    /// An executor that ignores cancellation: the answer says `cancelling`, the task stays
    /// in_progress until the executor returns, then becomes `cancelled` with its late result discarded.
    @Test func cancelRunningNonCooperative() async throws {
        // Steady leases, and a sleep long enough to outlast a loaded machine's slow start plus
        // the store's 1.5 s wait for a stop: otherwise the attempt ends (cancelled, correctly)
        // before the test looks.
        try await withDeployment(environment: steadyLeases) { d in
            let submitted = try await d.submit("""
                [{"id": "stubborn", "name": "stubborn", "executor": "sleep_executor", "inputs": {"seconds": 8, "ignore_cancel": true}}]
                """)
            try await waitUntilRunning(d, "stubborn")
            let outcome = try await d.store.cancel(taskID: "stubborn", userID: "alice", message: "stop now")
            #expect(outcome.jsonValue["status"] == "cancelling" && outcome.jsonValue["stop_confirmed"] == false, "\(outcome)")
            #expect(try await d.store.task("stubborn", userID: "alice").status == .inProgress)
            let tree = try await d.waitForTree(submitted.treeID)
            let task = try tree.node("stubborn")
            #expect(task.status == .cancelled && task.error == "stop now", "\(tree.summary)\n\(d.diagnostics())")
            #expect(task.result == nil, "the late result is discarded")
            let started = try task.startedMillis()
            #expect(try task.completedMillis() - started >= 7_500, "cancelled only when the executor returned")
            #expect(tree.tree.status == "cancelled")
            expectConsistentEvents(try await d.events(submitted.treeID), tree)
        }
    }

    /// The pub/sub signal is lost: the request still reaches the agent with its next heartbeat.
    @Test func cancelWhenTheSignalIsLost() async throws {
        try await withDeployment(environment: steadyLeases) { d in
            let submitted = try await d.submit("""
                [{"id": "quiet", "name": "quiet", "executor": "sleep_executor", "inputs": {"seconds": 30}}]
                """)
            try await waitUntilRunning(d, "quiet")
            // Nothing is published: only the queue's cancels hash, which heartbeats read, has it.
            let outcome = try await d.store.cancel(taskID: "quiet", userID: "alice", message: nil, publish: false)
            // The attempt holds its lease, so the store waits its confirm window: a heartbeat
            // within it confirms the stop; otherwise the answer is `cancelling`.
            #expect(outcome.stopConfirmed == (outcome.status == "cancelled"), "\(outcome)")
            let tree = try await d.waitForTree(submitted.treeID, timeout: .seconds(10))
            let task = try tree.node("quiet")
            #expect(task.status == .cancelled && task.error == "Cancellation requested", "\(tree.summary)\n\(d.diagnostics())")
            #expect(task.result?["slept_s"] != nil, "the cooperative executor's partial result")
            let logs = d.diagnostics(lines: 200)
            #expect(logs.contains("cancel_path=heartbeat"), "the agent learned it from a heartbeat\n\(logs)")
        }
    }

    /// A finished task cannot be cancelled (its status is in the answer); an unknown task and
    /// another user's task are not found, alike.
    @Test func cancelTerminalUnknownForeign() async throws {
        try await withDeployment { d in
            let submitted = try await d.submit(#"[{"id": "done", "name": "done", "executor": "echo_executor"}]"#)
            _ = try await d.waitForTree(submitted.treeID)
            let terminal = await thrown { _ = try await d.store.cancel(taskID: "done", userID: "alice") }
            #expect(terminal?.code == .alreadyTerminal && terminal?.httpStatus == 409)
            #expect(terminal?.currentStatus == "completed" && terminal?.message == "Task done is already completed")
            let unknown = await thrown { _ = try await d.store.cancel(taskID: "ghost", userID: "alice") }
            let foreign = await thrown { _ = try await d.store.cancel(taskID: "done", userID: "bob") }
            #expect(unknown?.code == .notFound && foreign?.code == .notFound)
            #expect(unknown?.message == "Task ghost not found" && foreign?.message == "Task done not found")
            let foreignTree = await thrown { _ = try await d.store.cancelTree("done", userID: "bob") }
            #expect(foreignTree?.code == .notFound)
        }
    }

    /// Cancelling a tree cancels its pending tasks at once and stops its running ones.
    @Test func cancelTree() async throws {
        try await withDeployment { d in
            let submitted = try await d.submit("""
                [{"id": "t", "name": "t", "executor": "sleep_executor", "inputs": {"seconds": 30}},
                 {"id": "t2", "name": "t2", "executor": "sleep_executor", "parent_id": "t", "inputs": {"seconds": 30}},
                 {"id": "t3", "name": "t3", "executor": "echo_executor", "parent_id": "t", "dependencies": ["t", "t2"]},
                 {"id": "t4", "name": "t4", "executor": "echo_executor", "parent_id": "t"}]
                """)
            try await waitUntilRunning(d, "t")
            try await waitUntilRunning(d, "t2")
            try await d.waitUntil("t4 completed") { try await d.store.task("t4", userID: "alice").status == .completed }
            let outcomes = try await d.store.cancelTree(submitted.treeID, userID: "alice")
            #expect(Set(outcomes.map(\.taskID)) == ["t", "t2", "t3"], "\(outcomes)")
            let tree = try await d.waitForTree(submitted.treeID, timeout: .seconds(10))
            #expect(tree.tree.status == "cancelled", "\(tree.summary)")
            #expect(tree.tasks.map(\.status) == [.cancelled, .cancelled, .cancelled, .completed], "\(tree.summary)")
        }
    }

    // MARK: Re-execute

    /// A pipeline whose middle step failed is repaired and re-executed: that step and the steps
    /// after it run, the completed first step does not run again.
    @Test func reexecuteFailedMiddleTask() async throws {
        let flag = FileManager.default.temporaryDirectory.appendingPathComponent("baton-repair-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: flag) }
        let agent = AgentSpec(executors: ["echo_executor", "command_executor"], concurrency: 4,
                              environment: ["BATON_AGENT_COMMAND_ALLOWLIST": "test"])
        try await withDeployment(agents: [agent], environment: steadyLeases) { d in
            let submitted = try await d.submit("""
                [{"id": "fetch", "name": "fetch", "executor": "echo_executor", "inputs": {"ret": {"rows": [1, 2]}}},
                 {"id": "check", "name": "check", "executor": "command_executor", "parent_id": "fetch",
                  "dependencies": ["fetch"], "inputs": {"command": "test", "args": ["-f", "\(flag)"]}},
                 {"id": "transform", "name": "transform", "executor": "echo_executor", "parent_id": "fetch", "dependencies": ["check"]},
                 {"id": "load", "name": "load", "executor": "echo_executor", "parent_id": "fetch", "dependencies": ["transform"]}]
                """)
            let failed = try await d.waitForTree(submitted.treeID)
            #expect(failed.tree.status == "failed", "\(failed.summary)\n\(d.diagnostics())")
            #expect(try failed.node("load").blockedBy == "check")

            FileManager.default.createFile(atPath: flag, contents: Data())
            let reset = try await d.store.reexecute(taskID: "check", userID: "alice")
            #expect(reset == ["check", "transform", "load"])
            let tree = try await d.waitForTree(submitted.treeID)
            let events = try await d.events(submitted.treeID)
            #expect(tree.tree.status == "completed", "\(tree.summary)\n\(events.summary)\n\(d.diagnostics())")
            #expect(try tree.node("fetch").attempt == 1, "completed work is not run again")
            #expect(events.of("task_started", task: "fetch").count == 1)
            #expect(try tree.node("check").attempt == 2)
            #expect(try tree.node("transform").attempt == 1 && tree.node("load").attempt == 1)
            #expect(events.of("task_reset").compactMap { $0["task_id"] } == ["check", "transform", "load"])
            #expect(events.of("tree_finished").compactMap { $0["status"] } == ["failed", "completed"])
            #expect(try tree.node("check").inputs["fetch"] == ["rows": [1, 2]])
        }
    }

    // MARK: Copy, link, mixed, archive

    static let finishedPipeline = """
        [{"id": "src", "name": "src", "executor": "echo_executor", "inputs": {"ret": {"rows": 3}}},
         {"id": "calc", "name": "calc", "executor": "echo_executor", "parent_id": "src", "dependencies": ["src"], "inputs": {"factor": 2}},
         {"id": "side", "name": "side", "executor": "echo_executor", "parent_id": "src", "inputs": {"ret": "side"}},
         {"id": "sink", "name": "sink", "executor": "sleep_executor", "parent_id": "calc", "dependencies": ["calc"], "inputs": {"seconds": 0.1}}]
        """

    /// A copy of a finished tree runs again, to the same results, under new ids.
    @Test func copyOfAFinishedTreeRerunsToTheSameResults() async throws {
        try await withDeployment { d in
            let source = try await d.waitForTree(try await d.submit(Self.finishedPipeline).treeID)
            #expect(source.tree.status == "completed", "\(source.summary)")
            let copy = try await d.store.copyTree("src", userID: "alice", ownerID: "alice")
            let map = Dictionary(uniqueKeysWithValues: zip(source.tasks.map(\.id), copy.taskIDs))
            #expect(try await d.store.treeRecord(copy.treeID, userID: "alice").status == "pending", "stored, not started")
            try await d.store.startTree(copy.treeID, userID: "alice")
            let rerun = try await d.waitForTree(copy.treeID)
            #expect(rerun.tree.status == "completed", "\(rerun.summary)\n\(d.diagnostics())")
            #expect(try rerun.node(map["src"]!).result == source.node("src").result)
            #expect(try rerun.node(map["side"]!).result == source.node("side").result)
            // the dependency result arrives under the copy's id
            #expect(try rerun.node(map["calc"]!).result == .object(["factor": 2, map["src"]!: ["rows": 3]]))
            #expect(try rerun.node(map["sink"]!).result?["slept_s"] != nil)
            for task in rerun.tasks { #expect(task.originType == .copy && task.attempt == 1 && task.originalTaskID != nil) }
            #expect(try await d.store.tree("src", userID: "alice").tasks.allSatisfy(\.hasReferences))
            expectConsistentEvents(try await d.events(copy.treeID), rerun)
        }
    }

    /// Copying a subtree pulls in what it depends on (and the parents joining them), not the rest.
    @Test func subtreeCopyPullsInItsUpstream() async throws {
        try await withDeployment { d in
            _ = try await d.waitForTree(try await d.submit(Self.finishedPipeline).treeID)
            let copy = try await d.store.copyTree("src", userID: "alice", ownerID: "alice", taskID: "sink")
            let stored = try await d.store.tree(copy.treeID, userID: "alice")
            #expect(stored.tasks.map(\.name) == ["src", "calc", "sink"], "side is not needed")
            try await d.store.startTree(copy.treeID, userID: "alice")
            let tree = try await d.waitForTree(copy.treeID)
            #expect(tree.tree.status == "completed", "\(tree.summary)\n\(d.diagnostics())")
            #expect(tree.tasks.allSatisfy { $0.status == .completed })
        }
    }

    /// Links read as their originals, inject the originals' results, and cannot cross users;
    /// copies of another user's tree need the admin role.
    @Test func linksResolveOnReadAndInInjection() async throws {
        try await withDeployment { d in
            let source = try await d.waitForTree(try await d.submit(Self.finishedPipeline).treeID)
            let link = try await d.store.linkTree("src", userID: "alice", ownerID: "alice")
            let map = Dictionary(uniqueKeysWithValues: zip(source.tasks.map(\.id), link.taskIDs))
            let calcLink = try await d.store.task(map["calc"]!, userID: "alice")
            #expect(calcLink.originType == .link && calcLink.originalTaskID == "calc" && calcLink.status == .completed)
            #expect(calcLink.result == (try source.node("calc").result), "a read resolves to the original")
            #expect(try await d.store.tree(link.treeID, userID: "alice").tree.status == "completed")

            // through the CLI too
            let printed = try await runCLI(d, ["get", map["calc"]!, "--user", "alice"])
            #expect(try JSONValue(parsing: printed)["result"] == (try source.node("calc").result), "\(printed)")

            // injection: a new tree depending on the link receives the original's result
            let consumer = try await d.submit("""
                [{"id": "consumer", "name": "consumer", "executor": "echo_executor", "dependencies": ["\(map["calc"]!)"]}]
                """)
            let consumed = try await d.waitForTree(consumer.treeID)
            #expect(try consumed.node("consumer").result == .object([map["calc"]!: try source.node("calc").result ?? .null]),
                    "\(consumed.summary)\n\(d.diagnostics())")

            let crossLink = await thrown { _ = try await d.store.linkTree("src", userID: nil, ownerID: "bob") }
            #expect(crossLink?.code == .forbidden && crossLink?.message == "Deny linking to a different user's task.")
            let crossCopy = await thrown { _ = try await d.store.copyTree("src", userID: "bob", ownerID: "bob") }
            #expect(crossCopy?.code == .notFound)
            let forOther = await thrown { _ = try await d.store.copyTree("src", userID: "alice", ownerID: "bob") }
            #expect(forOther?.code == .forbidden)
            let admin = try await d.store.copyTree("src", userID: nil, ownerID: "bob")
            #expect(try await d.store.tree(admin.treeID, userID: "bob").tasks.count == 4)
        }
    }

    /// A mixed copy runs only its copied part; the copies receive the linked tasks' results.
    @Test func mixedRunsOnlyTheCopiedPart() async throws {
        try await withDeployment { d in
            let source = try await d.waitForTree(try await d.submit(Self.finishedPipeline).treeID)
            let mixed = try await d.store.mixedTree("src", userID: "alice", ownerID: "alice", linkTaskIDs: ["src", "calc", "side"])
            let map = Dictionary(uniqueKeysWithValues: zip(source.tasks.map(\.id), mixed.taskIDs))
            try await d.store.startTree(mixed.treeID, userID: "alice")
            let tree = try await d.waitForTree(mixed.treeID)
            let events = try await d.events(mixed.treeID)
            #expect(tree.tree.status == "completed", "\(tree.summary)\n\(d.diagnostics())")
            #expect(events.startOrder == [map["sink"]!], "only the copied part runs\n\(events.summary)")
            let sink = try tree.node(map["sink"]!)
            #expect(sink.originType == .copy)
            #expect(sink.inputs[map["calc"]!] == (try source.node("calc").result), "the linked result under the link's id")
            #expect(try tree.node(map["calc"]!).result == (try source.node("calc").result))
        }
    }

    /// An archived tree refuses every write, and its copies are ordinary pending trees.
    @Test func archiveRefusesEveryWrite() async throws {
        try await withDeployment { d in
            _ = try await d.waitForTree(try await d.submit(Self.finishedPipeline).treeID)
            let record = try await d.store.archiveTree("src", userID: "alice")
            #expect(record.archived && record.originType == "archive")
            let errors: [BatonError?] = [
                await thrown { _ = try await d.store.cancel(taskID: "calc", userID: "alice") },
                await thrown { _ = try await d.store.cancelTree("src", userID: "alice") },
                await thrown { _ = try await d.store.reexecute(taskID: "calc", userID: "alice", includeCompleted: true) },
                await thrown { try await d.store.startTree("src", userID: "alice") },
                await thrown {
                    _ = try await d.store.addTask(TaskSubmission(name: "late", executor: "echo_executor", parentID: "calc"),
                                                  userID: "alice", ownerID: "alice")
                },
            ]
            for error in errors {
                #expect(error?.code == .immutable && error?.message.hasSuffix("is immutable; copy it before editing") == true,
                        "\(String(describing: error))")
            }
            #expect(errors[0]?.message == "Archived task calc is immutable; copy it before editing")
            let copy = try await d.store.copyTree("src", userID: "alice", ownerID: "alice")
            try await d.store.startTree(copy.treeID, userID: "alice")
            #expect(try await d.waitForTree(copy.treeID).tree.status == "completed")
            #expect(try await d.store.tree("src", userID: "alice").tasks.allSatisfy { $0.originType == .archive })
        }
    }

    /// The CLI commands print JSON answers.
    @Test func cliCommands() async throws {
        try await withDeployment { d in
            _ = try await d.waitForTree(try await d.submit(Self.finishedPipeline).treeID)
            let copy = try JSONValue(parsing: try await runCLI(d, ["copy", "src", "--user", "alice", "--execute"]))
            let copyID = try #require(copy["tree_id"]?.stringValue, "\(copy)")
            #expect(try await d.waitForTree(copyID).tree.status == "completed")
            let link = try JSONValue(parsing: try await runCLI(d, ["link", "src", "--user", "alice"]))
            #expect(link["task_ids"]?.arrayValue?.count == 4)
            let mixed = try JSONValue(parsing: try await runCLI(d, ["mixed", "src", "--link", "src", "calc", "--user", "alice"]))
            #expect(mixed["task_ids"]?.arrayValue?.count == 4)
            let reset = try JSONValue(parsing: try await runCLI(d, ["reexecute", "calc", "--include-completed", "--user", "alice"]))
            #expect(reset == ["task_ids": ["calc"]], "the completed dependent is kept: \(reset)")
            _ = try await d.waitForTree("src")
            let cancel = try JSONValue(parsing: try await runCLI(d, ["cancel", "src", "--tree", "--user", "alice"]))
            #expect(cancel.arrayValue != nil, "\(cancel)")
            let archive = try JSONValue(parsing: try await runCLI(d, ["archive", "src", "--user", "alice"]))
            #expect(archive["archived"] == true, "\(archive)")
            let refused = try await runCLI(d, ["cancel", "calc", "--user", "alice"], expectFailure: true)
            #expect(refused.contains("immutable"), "\(refused)")
        }
    }

    // MARK: Helpers

    private func waitUntilRunning(_ d: Deployment, _ id: String) async throws {
        try await d.waitUntil("\(id) is running") { try await d.store.task(id, userID: nil).status == .inProgress }
    }

    private func thrown(_ body: () async throws -> Void) async -> BatonError? {
        do {
            try await body()
            return nil
        } catch let error as BatonError {
            return error
        } catch {
            Issue.record("expected a BatonError, got \(error)")
            return nil
        }
    }

    /// Runs the `baton` CLI against the deployment; returns stdout (stderr too when it is expected to fail).
    private func runCLI(_ d: Deployment, _ arguments: [String], expectFailure: Bool = false) async throws -> String {
        let run = try await d.cli(arguments)
        if expectFailure {
            #expect(run.status != 0, "baton \(arguments) should fail: \(run.output)")
            return run.output + run.errors
        }
        #expect(run.status == 0, "baton \(arguments): \(run.errors)")
        return run.output
    }
}

extension TreeSnapshot {
    /// The task with this id (a test failure when the tree has none).
    fileprivate func node(_ id: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> TaskRecord {
        try #require(tasks.first { $0.id == id }, "tree \(tree.id) has no task \(id)", sourceLocation: sourceLocation)
    }
}
