import BatonCore
import Foundation
import Testing

/// The cross-user matrix: get, list, cancel, re-execute, copy, link, stream — each refused for
/// another user exactly like a missing task or tree (404), allowed for an admin.
@Suite("Gateway access")
struct GatewayAccessTests {
    @Test func anotherUserSeesNothingAndAnAdminEverything() async throws {
        try await withGateway(agents: [AgentSpec(executors: ["echo_executor", "fail_executor"])]) { d, users in
            let (alice, bob, admin) = (users.alice, users.bob, users.admin)
            // Alice's trees: done (for copy/link/stream), failed (for re-execution), stored (for cancel).
            _ = try await alice.createTree(echoTree("done"))
            _ = try await alice.createTree(#"[{"id": "oops", "name": "oops", "executor": "fail_executor"}]"#)
            _ = try await alice.createTree(#"{"tasks": \#(echoTree("idle")), "execute": false}"#)
            _ = try await alice.waitForTree("done-root")
            _ = try await alice.waitForTree("oops")

            // Bob: every route answers like for something that does not exist.
            func refusedLikeMissing(_ real: HTTPAnswer, _ missing: HTTPAnswer, _ what: String,
                                    sourceLocation: SourceLocation = #_sourceLocation) {
                expectClientError(real, 404, code: "not_found", "bob: \(what)", sourceLocation: sourceLocation)
                expectClientError(missing, 404, code: "not_found", "bob, missing: \(what)", sourceLocation: sourceLocation)
                let realMessage = real.json["error"]?["message"]?.stringValue ?? ""
                let missingMessage = missing.json["error"]?["message"]?.stringValue ?? ""
                #expect(realMessage.replacingOccurrences(of: "done-a", with: "ID").replacingOccurrences(of: "done-root", with: "ID")
                        .replacingOccurrences(of: "oops", with: "ID").replacingOccurrences(of: "idle-a", with: "ID")
                        .replacingOccurrences(of: "idle-root", with: "ID")
                        == missingMessage.replacingOccurrences(of: "ghost", with: "ID"),
                        "\(what): \(real) vs \(missing)", sourceLocation: sourceLocation)
            }
            refusedLikeMissing(try await bob.get("/v1/tasks/done-a"), try await bob.get("/v1/tasks/ghost"), "get task")
            refusedLikeMissing(try await bob.get("/v1/trees/done-root"), try await bob.get("/v1/trees/ghost"), "get tree")
            refusedLikeMissing(try await bob.get("/v1/tasks?tree_id=done-root"), try await bob.get("/v1/tasks?tree_id=ghost"), "list a tree")
            refusedLikeMissing(try await bob.post("/v1/tasks/idle-a/cancel"), try await bob.post("/v1/tasks/ghost/cancel"), "cancel task")
            refusedLikeMissing(try await bob.post("/v1/trees/idle-root/cancel"), try await bob.post("/v1/trees/ghost/cancel"), "cancel tree")
            refusedLikeMissing(try await bob.post("/v1/tasks/oops/reexecute"), try await bob.post("/v1/tasks/ghost/reexecute"), "re-execute")
            refusedLikeMissing(try await bob.post("/v1/trees/done-root/copy"), try await bob.post("/v1/trees/ghost/copy"), "copy")
            refusedLikeMissing(try await bob.post("/v1/trees/done-root/link"), try await bob.post("/v1/trees/ghost/link"), "link")
            refusedLikeMissing(try await bob.post("/v1/trees/done-root/mixed", #"{"link_task_ids": ["done-a"]}"#),
                               try await bob.post("/v1/trees/ghost/mixed", #"{"link_task_ids": ["done-a"]}"#), "mixed")
            refusedLikeMissing(try await bob.post("/v1/trees/done-root/archive"), try await bob.post("/v1/trees/ghost/archive"), "archive")
            refusedLikeMissing(try await bob.post("/v1/trees/idle-root/execute"), try await bob.post("/v1/trees/ghost/execute"), "execute")
            refusedLikeMissing(try await bob.get("/v1/trees/done-root/events"), try await bob.get("/v1/trees/ghost/events"), "stream (SSE)")
            refusedLikeMissing(try await bob.get("/v1/trees/done-root/ws"), try await bob.get("/v1/trees/ghost/ws"), "stream (plain GET of ws)")
            for tree in ["done-root", "ghost"] {
                // A socket is refused with an error message and close code 4404, like a missing tree.
                let socket = try await WebSocketClient(port: users.port, path: "/v1/trees/\(tree)/ws", key: "bob-key")
                #expect(socket.status == 101, "bob's WebSocket upgrade: \(socket.status) \(socket.refusal)")
                let refusal = try await socket.all()
                #expect(refusal.count == 1 && (try? JSONValue(parsing: refusal[0]))?["error"]?["code"] == "not_found", "\(refusal)")
                #expect(socket.closeCode == 4404)
                socket.close()
            }
            let bobsList = try await bob.get("/v1/tasks")
            #expect(bobsList.status == 200 && bobsList.json["tasks"]?.arrayValue?.isEmpty == true, "\(bobsList)")

            // Nothing of alice's changed.
            #expect(try await d.store.task("idle-a", userID: nil).status == .pending)
            #expect(try await d.store.task("oops", userID: nil).status == .failed)
            #expect(try await d.store.treeRecord("done-root", userID: nil).archived == false)
            #expect(try await d.store.treeRecord("idle-root", userID: nil).started == false)
            #expect(try await d.store.task("done-a", userID: nil).hasReferences == false)

            // The admin: everything is allowed.
            #expect(try await admin.get("/v1/tasks/done-a").status == 200)
            #expect(try await admin.get("/v1/trees/done-root").status == 200)
            let everything = try await admin.get("/v1/tasks")
            #expect(everything.json["tasks"]?.arrayValue?.count == 7, "\(everything)")
            #expect(try await admin.get("/v1/tasks?tree_id=done-root").json["tasks"]?.arrayValue?.count == 3)
            let cancel = try await admin.post("/v1/tasks/idle-a/cancel", #"{"message": "by admin"}"#)
            #expect(cancel.status == 200 && cancel.json["status"] == "cancelled", "\(cancel)")
            let cancelTree = try await admin.post("/v1/trees/idle-root/cancel")
            #expect(cancelTree.status == 200, "\(cancelTree)")
            let reexecute = try await admin.post("/v1/tasks/oops/reexecute")
            #expect(reexecute.status == 200 && reexecute.json["task_ids"]?.arrayValue?.contains("oops") == true, "\(reexecute)")
            let copy = try await admin.post("/v1/trees/done-root/copy")
            #expect(copy.status == 201, "\(copy)")
            let link = try await admin.post("/v1/trees/done-root/link")
            #expect(link.status == 201, "\(link)")
            if let linkTree = link.json["tree_id"]?.stringValue {
                #expect(try await d.store.treeRecord(linkTree, userID: nil).userID == "alice", "an admin links for the owner")
            }
            let stream = try await SSEClient(port: users.port, path: "/v1/trees/done-root/events", key: "admin-key")
            #expect(stream.status == 200)
            let frames = try await stream.all()
            #expect(frames.last?.type == "tree_finished", "\(frames.map { $0.data })")
            stream.close()
            let socketAdmin = try await WebSocketClient(port: users.port, path: "/v1/trees/done-root/ws", key: "admin-key")
            #expect(socketAdmin.status == 101)
            let messages = try await socketAdmin.all()
            #expect(messages.count == frames.count, "\(messages)")
            socketAdmin.close()
            #expect(try await admin.post("/v1/trees/done-root/archive").status == 200)
        }
    }
}
