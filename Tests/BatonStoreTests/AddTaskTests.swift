import BatonCore
import BatonStore
import Foundation
import Testing

/// `addTask.lua` through ``BatonStore/addTask(_:userID:ownerID:validator:)``: one task joining an
/// existing tree (POST /v1/tasks with parent_id).
@Suite("Add task")
struct AddTaskTests {
    static func item(_ json: String) throws -> TaskSubmission {
        try TaskSubmission(jsonValue: try JSONValue(parsing: json), path: "")
    }

    @Test func joinsATreeWaitsForAnInTreeDependencyAndRunsAfterIt() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        let tree = try await store.submit(submissions("""
            [{"id": "root", "name": "root", "executor": "work"},
             {"id": "leaf", "name": "leaf", "parent_id": "root", "executor": "work"}]
            """), userID: "ann")
        let running = try await claimAndStart(store, executor: "work")
        #expect(running.count == 2)
        clock.advance(milliseconds: 10)

        let record = try await store.addTask(try Self.item("""
            {"id": "new", "name": "new", "parent_id": "leaf", "executor": "late", "dependencies": ["root"], "inputs": {"k": 1}}
            """), userID: "ann", ownerID: "ann")
        #expect(record.treeID == tree.treeID && record.parentID == "leaf" && record.userID == "ann")
        #expect(record.status == .pending && record.blockedBy == nil)
        let added = try await taskHash(store, tree.treeID, "new")
        #expect(added["waiting"] == "1" && added["queued"] == "0")
        #expect(try await taskHash(store, tree.treeID, "root")["dependents"] == "Rnew")
        #expect(try await taskHash(store, tree.treeID, "leaf")["has_children"] == "1")
        #expect(try await members(store, store.keys.treeTasks(tree.treeID)) == ["root", "leaf", "new"])
        let treeHash = try await hash(store, store.keys.tree(tree.treeID))
        #expect(treeHash["n_total"] == "3" && treeHash["n_pending"] == "1" && treeHash["n_in_progress"] == "2")
        let created = try await events(store, tree.treeID).last
        #expect(created?.type == "task_created" && created?.taskID == "new")
        #expect(try await store.treeID(ofTask: "new") == tree.treeID)
        #expect(try await members(store, store.keys.ready("late")).isEmpty)

        // The dependency completes: the new task is queued with the result merged in.
        try await store.apply([Report.completed(running.first { $0.taskID == "root" }!, result: ["r": true])])
        #expect(try await members(store, store.keys.ready("late")) == [Keys.member(tree: tree.treeID, task: "new")])
        let merged = try await store.task("new", userID: nil)
        #expect(merged.inputs == ["k": 1, "root": ["r": true]])
    }

    @Test func aFinishedTreeIsReopenedAndFinishesAgain() async throws {
        let store = try makeStore(clock: TestClock())
        let tree = try await store.submit(submissions(#"[{"id": "only", "name": "only", "executor": "work"}]"#), userID: nil)
        let started = try await claimAndStart(store, executor: "work")
        try await store.apply([Report.completed(started[0], result: "done")])
        #expect(try await store.treeRecord(tree.treeID, userID: nil).status == "completed")

        _ = try await store.addTask(try Self.item(#"{"id": "more", "name": "more", "parent_id": "only", "executor": "work", "dependencies": ["only"]}"#),
                                    userID: nil, ownerID: "admin")
        var record = try await store.treeRecord(tree.treeID, userID: nil)
        #expect(record.status == "in_progress" && record.finishedAt == nil && record.taskCount == 2)
        #expect(try await store.task("more", userID: nil).userID == nil, "the task belongs to the tree's owner")
        let again = try await claimAndStart(store, executor: "work")
        #expect(again.map(\.taskID) == ["more"])
        #expect(again.first?.inputs == ["only": "done"])
        try await store.apply([Report.completed(again[0], result: "more")])
        record = try await store.treeRecord(tree.treeID, userID: nil)
        #expect(record.status == "completed" && record.counts["completed"] == 2)
        #expect(try await events(store, tree.treeID).filter { $0.type == "tree_finished" }.count == 2)
    }

    @Test func aFailedRequiredDependencyBlocksAtOnceAnOptionalOneDoesNot() async throws {
        let store = try makeStore(clock: TestClock())
        let tree = try await store.submit(submissions(#"[{"id": "bad", "name": "bad", "executor": "work"}]"#), userID: "ann")
        let started = try await claimAndStart(store, executor: "work")
        try await store.apply([Report.failed(started[0], error: "boom")])

        let blocked = try await store.addTask(try Self.item(#"{"id": "needs", "name": "needs", "parent_id": "bad", "executor": "work", "dependencies": ["bad"]}"#),
                                              userID: "ann", ownerID: "ann")
        #expect(blocked.blockedBy == "bad")
        let optional = try await store.addTask(try Self.item(#"{"id": "maybe", "name": "maybe", "parent_id": "bad", "executor": "work", "dependencies": [{"id": "bad", "required": false}]}"#),
                                               userID: "ann", ownerID: "ann")
        #expect(optional.blockedBy == nil)
        #expect(try await claimAndStart(store, executor: "work").map(\.taskID) == ["maybe"])
        let types = try await events(store, tree.treeID).map(\.type)
        #expect(types.contains("task_blocked"))
    }

    @Test func aDependencyInAnotherTreeIsWatched() async throws {
        let store = try makeStore(clock: TestClock())
        let host = try await store.submit(submissions(#"[{"id": "host", "name": "host", "executor": "idle"}]"#), userID: "ann")
        _ = try await store.submit(submissions(#"[{"id": "other", "name": "other", "executor": "work"}]"#), userID: "ann")
        _ = try await store.addTask(try Self.item(#"{"id": "joined", "name": "joined", "parent_id": "host", "executor": "late", "dependencies": ["other"]}"#),
                                    userID: "ann", ownerID: "ann")
        #expect(try await taskHash(store, host.treeID, "joined")["waiting"] == "1")
        let other = try await claimAndStart(store, executor: "work")
        try await store.apply([Report.completed(other[0], result: 5)])
        #expect(try await members(store, store.keys.ready("late")) == [Keys.member(tree: host.treeID, task: "joined")])
        #expect(try await store.task("joined", userID: nil).inputs == ["other": 5])
    }

    @Test func refusalsNameTheFieldAndChangeNothing() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(submissions(#"[{"id": "mine", "name": "mine", "executor": "work"}]"#), userID: "ann")
        _ = try await store.submit(submissions(#"[{"id": "theirs", "name": "theirs", "executor": "work"}]"#), userID: "bob")
        let before = try await keySpace(store)
        let cases: [(String, BatonError.Code, String?)] = [
            (#"{"name": "x", "parent_id": "nowhere"}"#, .validationFailed, "parent_id"),
            (#"{"name": "x", "parent_id": "theirs"}"#, .validationFailed, "parent_id"),
            (#"{"id": "mine", "name": "x", "parent_id": "mine"}"#, .alreadyExists, "id"),
            (#"{"id": "theirs", "name": "x", "parent_id": "mine"}"#, .alreadyExists, "id"),
            (#"{"name": "x", "parent_id": "mine", "dependencies": ["theirs"]}"#, .validationFailed, "dependencies[0]"),
            (#"{"name": "x", "parent_id": "mine", "priority": 5}"#, .validationFailed, "priority"),
            (#"{"name": "", "parent_id": "mine"}"#, .validationFailed, "name"),
        ]
        for (json, code, field) in cases {
            let error = await batonError { _ = try await store.addTask(try Self.item(json), userID: "ann", ownerID: "ann") }
            #expect(error?.code == code, "\(json): \(String(describing: error))")
            #expect(error?.field == field, "\(json): \(String(describing: error))")
        }
        expectUnchanged(before, try await keySpace(store))
    }
}
