import BatonCore
import Foundation
import Testing

/// Cancel, re-execute, copy, link, archive and mixed through HTTP.
@Suite("Gateway operations")
struct GatewayOperationTests {
    @Test func cancelAndReexecute() async throws {
        try await withGateway(agents: [AgentSpec(executors: ["echo_executor", "sleep_executor", "fail_executor"])]) { d, users in
            let alice = users.alice
            // A running sleeper and a pending dependent.
            _ = try await alice.createTree(#"""
                [{"id": "nap", "name": "nap", "executor": "sleep_executor", "inputs": {"seconds": 30}},
                 {"id": "wake", "name": "wake", "parent_id": "nap", "executor": "echo_executor", "dependencies": ["nap"]},
                 {"id": "side", "name": "side", "parent_id": "nap", "executor": "sleep_executor", "inputs": {"seconds": 30}}]
                """#)
            try await d.waitUntil("nap running") { try await d.store.task("nap", userID: nil).status == .inProgress }

            // A pending task is cancelled at once, with the given message.
            let pending = try await alice.post("/v1/tasks/wake/cancel", #"{"message": "not needed"}"#)
            #expect(pending.status == 200, "\(pending)")
            #expect(pending.json["status"] == "cancelled" && pending.json["stop_confirmed"] == true, "\(pending)")
            #expect(try await alice.get("/v1/tasks/wake").json["error"] == "not needed")
            // Cancelling it again: already terminal, with its status.
            let again = try await alice.post("/v1/tasks/wake/cancel")
            expectClientError(again, 409, code: "already_terminal", "second cancel")
            #expect(again.json["error"]?["current_status"] == "cancelled", "\(again)")
            #expect(again.json["error"]?["message"] == "Task wake is already cancelled", "\(again)")

            // A running cooperative task: cancelled (confirmed once the agent stopped it).
            let running = try await alice.post("/v1/tasks/nap/cancel")
            #expect(running.status == 200, "\(running)")
            #expect(["cancelled", "cancelling"].contains(running.json["status"]?.stringValue ?? ""), "\(running)")
            try await d.waitUntil("nap cancelled") { try await d.store.task("nap", userID: nil).status == .cancelled }

            // The whole tree: what is left.
            let tree = try await alice.post("/v1/trees/nap/cancel", #"{"message": "closing"}"#)
            #expect(tree.status == 200 && tree.json["tree_id"] == "nap", "\(tree)")
            let touched = tree.json["tasks"]?.arrayValue?.compactMap { $0["task_id"]?.stringValue } ?? []
            #expect(touched == ["side"], "\(tree)")
            #expect(try await alice.waitForTree("nap")["status"] == "cancelled")
            expectClientError(try await alice.post("/v1/tasks/ghost/cancel"), 404, code: "not_found", "cancel missing")

            // Re-execution of the cancelled tasks resets them and their unfinished dependents.
            let reset = try await alice.post("/v1/tasks/nap/reexecute")
            #expect(reset.status == 200 && reset.json["task_id"] == "nap", "\(reset)")
            let resetIDs = Set(reset.json["task_ids"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            #expect(resetIDs.isSuperset(of: ["nap", "wake"]), "\(reset)")
            try await d.waitUntil("nap running again") { try await d.store.task("nap", userID: nil).status == .inProgress }
            _ = try await alice.post("/v1/trees/nap/cancel")

            // A failed task re-runs (and fails again); a completed one only when asked.
            _ = try await alice.createTree(#"[{"id": "bad", "name": "bad", "executor": "fail_executor"}, {"id": "good", "name": "good", "parent_id": "bad", "executor": "echo_executor"}]"#)
            _ = try await alice.waitForTree("bad")
            let rerun = try await alice.post("/v1/tasks/bad/reexecute")
            #expect(rerun.status == 200 && rerun.json["task_ids"] == ["bad"], "\(rerun)")
            try await d.waitUntil("bad failed again") {
                let task = try await d.store.task("bad", userID: nil)
                return task.status == .failed && task.attempt == 2
            }
            expectClientError(try await alice.post("/v1/tasks/good/reexecute"), 409, "re-execute a completed task")
            let forced = try await alice.post("/v1/tasks/good/reexecute", #"{"include_completed": true}"#)
            #expect(forced.status == 200, "\(forced)")
            expectClientError(try await alice.post("/v1/tasks/ghost/reexecute"), 404, code: "not_found", "re-execute missing")
        }
    }

    @Test func copyLinkMixedAndArchive() async throws {
        try await withGateway { d, users in
            let alice = users.alice
            _ = try await alice.createTree(echoTree("src"))
            _ = try await alice.waitForTree("src-root")

            // Copy with overrides: new ids, pending, not started; execute runs it.
            let copy = try await alice.post("/v1/trees/src-root/copy", #"{"overrides": {"priority": 0, "params": {"tag": "copy"}}}"#)
            #expect(copy.status == 201, "\(copy)")
            let copyID = try #require(copy.json["tree_id"]?.stringValue)
            #expect(copy.headers["location"] == "/v1/trees/\(copyID)")
            let copied = try await alice.get("/v1/trees/\(copyID)?flat=true")
            #expect(copied.json["status"] == "pending" && copied.json["origin_type"] == "copy", "\(copied)")
            let copiedTasks = copied.json["tasks"]?.arrayValue ?? []
            #expect(copiedTasks.count == 3)
            #expect(copiedTasks.allSatisfy { $0["priority"] == 0 && $0["params"]?["tag"] == "copy" && $0["origin_type"] == "copy" })
            #expect(Set(copiedTasks.compactMap { $0["original_task_id"]?.stringValue }) == ["src-root", "src-a", "src-b"])
            #expect(try await alice.post("/v1/trees/\(copyID)/execute").status == 200)
            #expect(try await alice.waitForTree(copyID)["status"] == "completed")
            #expect(try await alice.get("/v1/tasks/src-a").json["has_references"] == true)

            // Subtree copy of one task alone.
            let single = try await alice.post("/v1/trees/src-root/copy", #"{"task_id": "src-a", "recursive": false}"#)
            #expect(single.status == 201 && single.json["task_ids"]?.arrayValue?.count == 1, "\(single)")

            // Link: completed, resolving to the original's data.
            let link = try await alice.post("/v1/trees/src-root/link")
            #expect(link.status == 201, "\(link)")
            let linkIDs = link.json["task_ids"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let linked = try await alice.get("/v1/tasks/\(linkIDs[1])")
            #expect(linked.json["origin_type"] == "link" && linked.json["status"] == "completed", "\(linked)")
            #expect(linked.json["result"] == (try await alice.get("/v1/tasks/src-a")).json["result"], "\(linked)")

            // Mixed: the listed tasks become links, the rest copies.
            let mixed = try await alice.post("/v1/trees/src-root/mixed", #"{"link_task_ids": ["src-a"]}"#)
            #expect(mixed.status == 201, "\(mixed)")
            let mixedTree = try await alice.get("/v1/trees/\(mixed.json["tree_id"]?.stringValue ?? "")?flat=true")
            let origins = mixedTree.json["tasks"]?.arrayValue?.compactMap { $0["origin_type"]?.stringValue } ?? []
            #expect(origins.sorted() == ["copy", "copy", "link"], "\(mixedTree)")
            expectClientError(try await alice.post("/v1/trees/src-root/mixed", #"{"link_task_ids": ["elsewhere"]}"#), 400, "mixed with a foreign id")

            // Link and archive need a fully completed tree.
            _ = try await alice.createTree(#"{"tasks": \#(echoTree("open")), "execute": false}"#)
            expectClientError(try await alice.post("/v1/trees/open-root/link"), 409, code: "conflict", "link an unfinished tree")
            expectClientError(try await alice.post("/v1/trees/open-root/archive"), 409, code: "conflict", "archive an unfinished tree")

            // Archive: read-only afterwards.
            let archived = try await alice.post("/v1/trees/src-root/archive")
            #expect(archived.status == 200 && archived.json["archived"] == true, "\(archived)")
            let immutable = try await alice.post("/v1/tasks/src-a/reexecute", #"{"include_completed": true}"#)
            expectClientError(immutable, 409, code: "immutable", "re-execute archived")
            expectClientError(try await alice.post("/v1/tasks", #"{"name": "new", "parent_id": "src-root"}"#), 409, code: "immutable", "child of archived")
            expectClientError(try await alice.post("/v1/trees/src-root/cancel"), 409, code: "immutable", "cancel archived")
            // Still readable, still copyable.
            #expect(try await alice.get("/v1/trees/src-root").status == 200)
            #expect(try await alice.post("/v1/trees/src-root/copy").status == 201)
            expectClientError(try await alice.post("/v1/trees/ghost/copy"), 404, code: "not_found", "copy missing")
            _ = d
        }
    }
}
