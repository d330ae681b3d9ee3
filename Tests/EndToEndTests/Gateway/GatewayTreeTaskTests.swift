import BatonCore
import Foundation
import Testing

/// Creating, starting and reading trees and tasks through HTTP.
@Suite("Gateway trees and tasks")
struct GatewayTreeTaskTests {
    @Test func createRunAndReadTrees() async throws {
        try await withGateway { d, users in
            // apflow's bare array, executed at once.
            let (treeID, ids) = try await users.alice.createTree(echoTree("t1"))
            #expect(treeID == "t1-root" && ids == ["t1-root", "t1-a", "t1-b"])
            let finished = try await users.alice.waitForTree(treeID)
            #expect(finished["status"] == "completed", "\(finished)")
            #expect(finished["counts"]?["completed"] == 3)
            #expect(finished["progress"]?.doubleValue == 1)
            #expect(finished["user_id"] == "alice")

            // Nested by parent by default, flat on request.
            let nested = try await users.alice.get("/v1/trees/\(treeID)")
            #expect(nested.status == 200)
            let roots = try #require(nested.json["tasks"]?.arrayValue)
            #expect(roots.count == 1 && roots[0]["id"] == "t1-root")
            #expect(roots[0]["children"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["t1-a", "t1-b"])
            let flat = try await users.alice.get("/v1/trees/\(treeID)?flat=true")
            #expect(flat.json["tasks"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["t1-root", "t1-a", "t1-b"])
            #expect(flat.json["tasks"]?.arrayValue?.allSatisfy { $0["children"] == nil } == true)

            // One task, with merged inputs and its result.
            let task = try await users.alice.get("/v1/tasks/t1-b")
            #expect(task.status == 200, "\(task)")
            #expect(task.json["status"] == "completed")
            #expect(task.json["inputs"]?["t1-a"] == "a", "\(task)")
            #expect(task.json["user_id"] == "alice")
            #expect(task.json["dependencies"]?[0]?["id"] == "t1-a")

            // {"tasks": [...], "execute": false} stores without running; execute starts it.
            let stored = try await users.alice.post("/v1/trees", #"{"tasks": \#(echoTree("t2")), "execute": false}"#)
            #expect(stored.status == 201, "\(stored)")
            #expect(stored.headers["location"] == "/v1/trees/t2-root")
            try await Task.sleep(for: .milliseconds(300))
            let waiting = try await users.alice.get("/v1/trees/t2-root")
            #expect(waiting.json["status"] == "pending" && waiting.json["started"] == false, "\(waiting)")
            let started = try await users.alice.post("/v1/trees/t2-root/execute")
            #expect(started.status == 200 && started.json["started"] == true, "\(started)")
            #expect(try await users.alice.waitForTree("t2-root")["status"] == "completed")
            // Executing a started tree again is harmless.
            #expect(try await users.alice.post("/v1/trees/t2-root/execute", "{}").status == 200)
            expectClientError(try await users.alice.post("/v1/trees/no-such-tree/execute"), 404, code: "not_found", "execute missing")

            // Generated ids: a UUID per task, the first root's id is the tree id.
            let generated = try await users.alice.createTree(#"[{"name": "only", "executor": "echo_executor"}]"#)
            #expect(generated.taskIDs.count == 1 && generated.treeID == generated.taskIDs[0])
            #expect(UUID(uuidString: generated.treeID) != nil)
            _ = try await users.alice.waitForTree(generated.treeID)
            _ = d
        }
    }

    /// `limits.max_tasks_per_read`: a tree bigger than a whole read allows is refused (413 naming
    /// `tree_id`, pointing to the task listing), and its tasks page through `GET /v1/tasks?tree_id=`.
    @Test func aTreeTooBigToReadWholeIsPagedInstead() async throws {
        try await withGateway(agents: [], environment: ["BATON_LIMITS_MAX_TASKS_PER_READ": "2"]) { _, users in
            _ = try await users.alice.createTree(echoTree("big"))
            let whole = try await users.alice.get("/v1/trees/big-root")
            expectClientError(whole, 413, code: "payload_too_large", "a tree of 3 tasks read whole")
            #expect(whole.errorField == "tree_id", "\(whole)")
            #expect(whole.json["error"]?["message"]?.stringValue?.contains("/v1/tasks?tree_id=big-root") == true, "\(whole)")
            let page = try await users.alice.get("/v1/tasks?tree_id=big-root&limit=2")
            #expect(page.status == 200 && page.json["tasks"]?.arrayValue?.count == 2, "\(page)")
        }
    }

    @Test func listFiltersAndPages() async throws {
        try await withGateway(agents: [AgentSpec(executors: ["echo_executor", "fail_executor"])]) { _, users in
            let first = try await users.alice.createTree(echoTree("l1"))
            let second = try await users.alice.createTree(#"""
                [{"id": "l2-root", "name": "root", "executor": "fail_executor"},
                 {"id": "l2-child", "name": "child", "parent_id": "l2-root", "executor": "echo_executor"}]
                """#)
            _ = try await users.alice.waitForTree(first.treeID)
            _ = try await users.alice.waitForTree(second.treeID)
            _ = try await users.bob.createTree(echoTree("b1"))

            let all = try await users.alice.get("/v1/tasks")
            #expect(all.status == 200)
            let ids = all.json["tasks"]?.arrayValue?.compactMap { $0["id"]?.stringValue }
            #expect(ids == ["l1-root", "l1-a", "l1-b", "l2-root", "l2-child"], "\(all)")
            #expect(all.json["next_cursor"] == .null)

            let failed = try await users.alice.get("/v1/tasks?status=failed")
            #expect(failed.json["tasks"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["l2-root"], "\(failed)")
            let inTree = try await users.alice.get("/v1/tasks?tree_id=l2-root")
            #expect(inTree.json["tasks"]?.arrayValue?.count == 2)
            let byExecutor = try await users.alice.get("/v1/tasks?executor=fail_executor")
            #expect(byExecutor.json["tasks"]?.arrayValue?.count == 1)

            // Pages of two, following the cursor, give everything once.
            var seen: [String] = []
            var cursor: String? = nil
            var pages = 0
            repeat {
                let query = cursor.map { "&cursor=\($0)" } ?? ""
                let page = try await users.alice.get("/v1/tasks?limit=2\(query)")
                #expect(page.status == 200, "\(page)")
                let pageIDs = page.json["tasks"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
                #expect(pageIDs.count <= 2)
                seen += pageIDs
                cursor = page.json["next_cursor"]?.stringValue
                pages += 1
            } while cursor != nil && pages < 10
            #expect(seen == ids ?? [], "pages gave \(seen)")

            // The admin lists everyone's; bad filters are refused.
            #expect((try await users.admin.get("/v1/tasks").json["tasks"]?.arrayValue?.count ?? 0) == 8)
            expectClientError(try await users.alice.get("/v1/tasks?status=sleeping"), 400, code: "invalid_argument", "bad status")
            expectClientError(try await users.alice.get("/v1/tasks?limit=0"), 400, code: "invalid_argument", "limit 0")
            expectClientError(try await users.alice.get("/v1/tasks?limit=abc"), 400, code: "invalid_argument", "limit abc")
            expectClientError(try await users.alice.get("/v1/tasks?limit=1001"), 400, code: "invalid_argument", "limit 1001")
            expectClientError(try await users.alice.get("/v1/tasks?cursor=%21%21not-a-cursor"), 400, code: "invalid_argument", "bad cursor")
            expectClientError(try await users.alice.get("/v1/tasks?tree_id=b1-root"), 404, code: "not_found", "bob's tree as filter")
        }
    }

    @Test func createOneTaskAloneOrInAnExistingTree() async throws {
        try await withGateway(agents: [AgentSpec(executors: ["echo_executor", "sleep_executor", "fail_executor"])]) { d, users in
            // Without parent_id: a tree of its own.
            let alone = try await users.alice.post("/v1/tasks", #"{"id": "solo", "name": "solo", "executor": "echo_executor", "inputs": {"ret": 7}}"#)
            #expect(alone.status == 201, "\(alone)")
            #expect(alone.json["tree_id"] == "solo" && alone.json["parent_id"] == .null)
            #expect(alone.headers["location"] == "/v1/tasks/solo")
            #expect(try await users.alice.waitForTree("solo")["status"] == "completed")

            // A running tree gets a child that depends on a sibling still running and on a task
            // of another tree (finished): it runs after both, with both results merged.
            _ = try await users.alice.createTree(#"""
                [{"id": "host", "name": "host", "executor": "sleep_executor", "inputs": {"seconds": 0.8}},
                 {"id": "host-child", "name": "child", "parent_id": "host", "executor": "echo_executor", "inputs": {"ret": "c"}}]
                """#)
            let joined = try await users.alice.post("/v1/tasks", #"""
                {"id": "late", "name": "late", "parent_id": "host-child", "executor": "echo_executor",
                 "dependencies": ["host", "solo"], "user_id": "mallory"}
                """#)
            #expect(joined.status == 201, "\(joined)")
            #expect(joined.json["tree_id"] == "host" && joined.json["parent_id"] == "host-child")
            #expect(joined.json["user_id"] == "alice", "user_id of the body is ignored: \(joined)")
            let tree = try await users.alice.waitForTree("host")
            #expect(tree["status"] == "completed" && tree["task_count"] == 3, "\(tree)")
            let late = try await users.alice.get("/v1/tasks/late")
            #expect(late.json["status"] == "completed", "\(late)")
            #expect(late.json["inputs"]?["solo"] == 7, "\(late)")
            #expect(late.json["inputs"]?["host"]?["slept_s"] != nil, "\(late)")
            let child = try await users.alice.get("/v1/tasks/host-child")
            #expect(child.json["has_children"] == true)
            let events = try await d.events("host")
            let lateEvents = events.filter { $0["task_id"] == "late" }.map { $0["type"] ?? "" }
            #expect(lateEvents == ["task_created", "task_started", "task_completed"], "\(lateEvents)")
            // Once `late` joined, the tree finished once. (On a starved machine the host may have
            // finished before `late` was added: that earlier finish is the tree's, not late's.)
            let joinedAt = events.firstIndex { $0["task_id"] == "late" && $0["type"] == "task_created" } ?? 0
            #expect(events[joinedAt...].filter { $0["type"] == "tree_finished" }.count == 1, "\(events)")

            // A finished tree takes a new task: it runs and the tree finishes again.
            let again = try await users.alice.post("/v1/tasks", #"{"id": "after-finish", "name": "after", "parent_id": "host", "executor": "echo_executor", "dependencies": ["late"]}"#)
            #expect(again.status == 201, "\(again)")
            try await d.waitUntil("after-finish completed") {
                try await d.store.task("after-finish", userID: nil).status == .completed
            }
            let reopened = try await users.alice.waitForTree("host")
            #expect(reopened["status"] == "completed" && reopened["task_count"] == 4, "\(reopened)")

            // A required dependency that failed blocks the new task at once.
            _ = try await users.alice.createTree(#"[{"id": "broken", "name": "broken", "executor": "fail_executor"}]"#)
            _ = try await users.alice.waitForTree("broken")
            let blocked = try await users.alice.post("/v1/tasks", #"{"id": "never", "name": "never", "parent_id": "broken", "executor": "echo_executor", "dependencies": ["broken"]}"#)
            #expect(blocked.status == 201 && blocked.json["blocked_by"] == "broken", "\(blocked)")
            #expect(try await users.alice.waitForTree("broken")["status"] == "failed")

            // Refusals name the field and store nothing.
            expectClientError(try await users.alice.post("/v1/tasks", #"{"name": "x", "parent_id": "nowhere"}"#), 422, code: "validation_failed", "missing parent")
            expectClientError(try await users.bob.post("/v1/tasks", #"{"name": "x", "parent_id": "host"}"#), 422, code: "validation_failed", "another user's parent")
            let duplicate = try await users.alice.post("/v1/tasks", #"{"id": "late", "name": "dup", "parent_id": "host"}"#)
            expectClientError(duplicate, 409, code: "already_exists", "taken id")
            #expect(duplicate.errorField == "id", "\(duplicate)")
            let badDependency = try await users.alice.post("/v1/tasks", #"{"name": "x", "parent_id": "host", "dependencies": ["ghost"]}"#)
            expectClientError(badDependency, 422, code: "validation_failed", "missing dependency")
            #expect(badDependency.errorField == "dependencies[0]", "\(badDependency)")
            let badPriority = try await users.alice.post("/v1/tasks", #"{"name": "x", "parent_id": "host", "priority": 9}"#)
            expectClientError(badPriority, 422, code: "validation_failed", "priority 9")
            #expect(badPriority.errorField == "priority", "\(badPriority)")
            expectClientError(try await users.alice.post("/v1/tasks", #"{"name": 5}"#), 400, code: "invalid_argument", "name of the wrong type")
            expectClientError(try await users.alice.post("/v1/tasks", #"[{"name": "x"}]"#), 400, code: "invalid_argument", "an array")
            #expect(try await d.store.tree("host", userID: nil).tasks.count == 4)
        }
    }
}
