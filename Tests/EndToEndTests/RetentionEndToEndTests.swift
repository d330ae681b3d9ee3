import BatonCore
import BatonStore
import Foundation
import RedisClient
import Testing

/// Issue 9, item 2, through the gateway: `retention_s` at submission, the scheduler's sweep, and
/// `DELETE /v1/trees/{id}` (409 for a running tree unless `?cancel=true`).
@Suite("Retention")
struct RetentionEndToEndTests {
    @Test func finishedTreesExpireAndDeleteRemovesThem() async throws {
        try await withGateway { d, users in
            // Kept one second after it finished, then the scheduler's sweep deletes it. (Only a
            // finished tree expires, so its 404 says it finished; waiting to see it `completed`
            // first would race the sweep on a loaded machine, where one poll can take a second.)
            _ = try await users.alice.createTree(#"{"tasks": [{"id": "short", "name": "s", "executor": "echo_executor"}], "retention_s": 1}"#)
            try await d.waitUntil("the expired tree is gone", timeout: .seconds(30)) {
                try await users.alice.get("/v1/trees/short").status == 404
            }
            #expect(try await d.store.treeID(ofTask: "short") == nil)
            expectClientError(try await users.alice.post("/v1/trees", #"{"tasks": [{"name": "x", "executor": "echo_executor"}], "retention_s": -1}"#),
                              400, code: "invalid_argument", "negative retention")

            // DELETE: a running tree is refused with the reason, unless cancel=true.
            _ = try await users.alice.createTree(#"[{"id": "slow", "name": "slow", "executor": "sleep_executor", "inputs": {"seconds": 30}}]"#)
            try await d.waitUntil("the slow task runs") { try await d.store.task("slow", userID: nil).status == .inProgress }
            let refused = try await users.alice.send("DELETE", "/v1/trees/slow", body: nil)
            expectClientError(refused, 409, code: "conflict", "DELETE a running tree")
            #expect(try await users.bob.send("DELETE", "/v1/trees/slow", body: nil).status == 404, "another user's tree")
            let cancelling = try await users.alice.send("DELETE", "/v1/trees/slow?cancel=true", body: nil)
            #expect([200, 202].contains(cancelling.status), "\(cancelling)")
            try await d.waitUntil("the cancelled tree is gone", timeout: .seconds(15)) {
                try await users.alice.get("/v1/trees/slow").status == 404
            }
            // A finished tree goes at once.
            let done = try await users.alice.createTree(#"[{"id": "done", "name": "d", "executor": "echo_executor"}]"#)
            _ = try await users.alice.waitForTree(done.treeID)
            let deleted = try await users.alice.send("DELETE", "/v1/trees/done", body: nil)
            #expect(deleted.status == 200 && deleted.json["deleted"] == true, "\(deleted)")
            #expect(try await users.alice.get("/v1/trees/done").status == 404)
            #expect(try await users.alice.get("/v1/tasks").json["tasks"]?.arrayValue?.isEmpty == true)
            expectAllAlive(d)
        }
    }
}
