import BatonCore
import Foundation
import Testing

/// Issue 11 through the gateway: a typo is refused or warned about, every pending task says why
/// it waits, and the caller can list trees, agents and executor queues.
@Suite("Gateway observability")
struct GatewayObserveTests {
    @Test func mistakesAreCaughtAndWaitingTasksSayWhy() async throws {
        try await withGateway(agents: [AgentSpec(executors: ["echo_executor"], concurrency: 2)]) { d, users in
            try await d.waitUntil("the agent registers") {
                try await users.alice.get("/v1/agents").json["agents"]?.arrayValue?.isEmpty == false
            }
            // A misspelt field is refused with the nearest name; nothing is stored.
            let typoField = try await users.alice.post("/v1/trees", #"[{"id": "tf", "name": "a", "executor": "echo_executor", "dependecies": []}]"#)
            expectClientError(typoField, 400, code: "invalid_argument", "misspelt field")
            #expect(typoField.json["error"]?["message"]?.stringValue?.contains("did you mean 'dependencies'?") == true, "\(typoField)")
            #expect(typoField.json["error"]?["field"]?.stringValue == "tasks[0].dependecies")
            #expect(try await users.alice.get("/v1/trees/tf").status == 404)

            // A misspelt executor type is accepted with a warning, and the task says it has no agent.
            let created = try await users.alice.post("/v1/trees", #"[{"id": "typo", "name": "typo", "executor": "echo_exector"}]"#)
            #expect(created.status == 201, "\(created)")
            let warnings = created.json["warnings"]?.arrayValue?.compactMap(\.stringValue) ?? []
            #expect(warnings.count == 1 && warnings[0].contains("'echo_exector'"), "\(created)")
            let task = try await users.alice.get("/v1/tasks/typo")
            #expect(task.json["waiting"]?["reason"]?.stringValue == "no_agent", "\(task)")
            #expect(task.json["waiting"]?["executor"]?.stringValue == "echo_exector")

            // A tree stored without executing says so on every task, in the tree answer too.
            _ = try await users.alice.createTree(#"{"tasks": [{"id": "later", "name": "later", "executor": "echo_executor"}], "execute": false}"#)
            let tree = try await users.alice.get("/v1/trees/later?flat=true")
            #expect(tree.json["tasks"]?[0]?["waiting"]?["reason"]?.stringValue == "not_started", "\(tree)")

            // Lists: the caller's trees (newest first), the live agents, the executor queues.
            let done = try await users.alice.createTree(echoTree("obs"))
            _ = try await users.alice.waitForTree(done.treeID)
            let trees = try await users.alice.get("/v1/trees?limit=2")
            #expect(trees.json["trees"]?.arrayValue?.compactMap { $0["tree_id"]?.stringValue } == ["obs-root", "later"], "\(trees)")
            #expect(trees.json["next_cursor"]?.stringValue != nil)
            let rest = try await users.alice.get("/v1/trees?limit=2&cursor=\(trees.json["next_cursor"]?.stringValue ?? "")")
            #expect(rest.json["trees"]?.arrayValue?.compactMap { $0["tree_id"]?.stringValue } == ["typo"], "\(rest)")
            let completed = try await users.alice.get("/v1/trees?status=completed")
            #expect(completed.json["trees"]?.arrayValue?.compactMap { $0["tree_id"]?.stringValue } == ["obs-root"], "\(completed)")
            #expect(try await users.bob.get("/v1/trees").json["trees"]?.arrayValue?.isEmpty == true, "bob sees none of alice's")
            expectClientError(try await users.alice.get("/v1/trees?status=done"), 400, "bad status")
            expectClientError(try await users.alice.get("/v1/trees?user_id=bob"), 400, "user_id is for admins")
            #expect(try await users.admin.get("/v1/trees?user_id=alice").json["trees"]?.arrayValue?.count == 3)

            let agents = try await users.alice.get("/v1/agents").json["agents"]?.arrayValue ?? []
            #expect(agents.count == 1)
            #expect(agents.first?["executors"]?.arrayValue?.compactMap(\.stringValue) == ["echo_executor"])
            #expect(agents.first?["concurrency"]?.intValue == 2 && agents.first?["version"]?.stringValue == BatonVersion.current)
            try await d.waitUntil("the agent's record counts the completions") {
                let echo = try await users.alice.get("/v1/executors").json["executors"]?.arrayValue?
                    .first { $0["executor"]?.stringValue == "echo_executor" }
                return (echo?["completed_last_minute"]?.intValue ?? 0) >= 3 && echo?["agents"]?.intValue == 1
            }
        }
    }
}
