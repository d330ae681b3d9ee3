import BatonCore
import Foundation
import Testing

/// Bad input of every kind is a 4xx that changes nothing; Idempotency-Key on create.
@Suite("Gateway input")
struct GatewayInputTests {
    @Test func badInputIsNeverAServerErrorAndChangesNothing() async throws {
        try await withGateway(agents: [], environment: ["BATON_GATEWAY_MAX_BODY_BYTES": "65536"]) { d, users in
            let existing = try await users.alice.createTree(#"{"tasks": \#(echoTree("keep")), "execute": false}"#)
            let alice = users.alice
            let bodies: [(String, String, Int?, String?)] = [
                ("not JSON", "{tasks: [}", 400, nil),
                ("truncated", #"[{"name": "a""#, 400, nil),
                ("a number", "42", 400, "tasks"),
                ("a string", #""hello""#, 400, "tasks"),
                ("null", "null", 400, "tasks"),
                ("object without tasks", #"{"execute": true}"#, 400, "tasks"),
                ("unknown top-level field", #"{"tasks": [{"name": "a"}], "run": true}"#, 400, "run"),
                ("tasks not an array", #"{"tasks": {"name": "a"}}"#, 400, "tasks"),
                ("execute not a boolean", #"{"tasks": [{"name": "a"}], "execute": "yes"}"#, 400, "execute"),
                ("element not an object", #"[1, 2]"#, 400, "tasks[0]"),
                ("priority a string", #"[{"name": "a", "priority": "high"}]"#, 400, "tasks[0].priority"),
                ("inputs an array", #"[{"name": "a", "inputs": [1]}]"#, 400, "tasks[0].inputs"),
                ("dependency a number", #"[{"name": "a", "dependencies": [3]}]"#, 400, "tasks[0].dependencies[0]"),
                ("empty array", "[]", 422, "tasks"),
                ("no name", #"[{"id": "x"}]"#, 422, "tasks[0].name"),
                ("duplicate names", #"[{"name": "a"}, {"name": "a"}]"#, 422, "tasks[1].name"),
                ("priority out of range", #"[{"name": "a", "priority": 7}]"#, 422, "tasks[0].priority"),
                ("unknown dependency", #"[{"name": "a", "dependencies": ["ghost"]}]"#, 422, "tasks[0].dependencies[0]"),
                ("dependency cycle", #"[{"id": "c1", "name": "c1", "dependencies": ["c2"]}, {"id": "c2", "name": "c2", "dependencies": ["c1"]}]"#, 422, nil),
                ("no root", #"[{"id": "r1", "name": "r1", "parent_id": "r2"}, {"id": "r2", "name": "r2", "parent_id": "r1"}]"#, 422, nil),
                ("id with a control character", #"[{"id": "a\u0001b", "name": "a"}]"#, 422, "tasks[0].id"),
                ("id of 300 bytes", #"[{"id": "\#(String(repeating: "x", count: 300))", "name": "a"}]"#, 422, "tasks[0].id"),
                ("taken id", #"[{"id": "keep-a", "name": "a"}]"#, 409, "tasks[0].id"),
                ("deep nesting", String(repeating: "[", count: 600) + String(repeating: "]", count: 600), 400, nil),
                ("huge number", #"[{"name": "a", "priority": 1e999}]"#, 400, nil),
                ("unpaired surrogate", #"[{"name": "\udc00"}]"#, 400, nil),
            ]
            for (what, body, status, field) in bodies {
                let answer = try await alice.post("/v1/trees", body)
                expectClientError(answer, status, "POST /v1/trees with \(what)")
                if let field { #expect(answer.errorField == field, "\(what): \(answer)") }
            }
            // Raw bytes that are not UTF-8, and a body over the limit.
            let binary = try await alice.send("POST", "/v1/trees", body: Data([0xFF, 0xFE, 0x00, 0x7B]))
            expectClientError(binary, 400, "binary body")
            let huge = #"[{"name": "a", "inputs": {"blob": ""# + String(repeating: "x", count: 70_000) + #""}}]"#
            let tooLarge = try await alice.post("/v1/trees", huge)
            expectClientError(tooLarge, 413, code: "payload_too_large", "body over the limit")
            let empty = try await alice.send("POST", "/v1/trees", body: Data())
            expectClientError(empty, 400, code: "invalid_argument", "empty body")

            // Ids with odd bytes in the path, and bad query values.
            for path in ["/v1/tasks/%00", "/v1/tasks/%FF%FE", "/v1/trees/a%0Ab", "/v1/tasks/\(String(repeating: "y", count: 300))",
                         "/v1/trees/%C3%28/events", "/v1/tasks/%1F/cancel"] {
                let answer = try await (path.hasSuffix("cancel") ? alice.post(path) : alice.get(path))
                expectClientError(answer, 400, code: "invalid_argument", "path \(path)")
            }
            for path in ["/v1/trees/keep-root?flat=maybe", "/v1/trees/keep-root/events?after=yesterday",
                         "/v1/trees/keep-root/events?follow=perhaps", "/v1/tasks?status=%00"] {
                expectClientError(try await alice.get(path), 400, code: "invalid_argument", "query \(path)")
            }
            let badResume = try await alice.get("/v1/trees/keep-root/events", headers: ["Last-Event-ID": "not-an-id"])
            expectClientError(badResume, 400, code: "invalid_argument", "Last-Event-ID")

            // Bodies of the other routes: unknown fields and wrong types.
            let routeBodies: [(String, String)] = [
                ("/v1/tasks/keep-a/cancel", #"{"message": 3}"#),
                ("/v1/tasks/keep-a/cancel", #"{"reason": "x"}"#),
                ("/v1/trees/keep-root/cancel", #"[]"#),
                ("/v1/tasks/keep-a/reexecute", #"{"include_completed": "yes"}"#),
                ("/v1/trees/keep-root/copy", #"{"overrides": {"status": "completed"}}"#),
                ("/v1/trees/keep-root/copy", #"{"overrides": {"priority": 12}}"#),
                ("/v1/trees/keep-root/copy", #"{"recursive": 1}"#),
                ("/v1/trees/keep-root/copy", #"{"task_id": 5}"#),
                ("/v1/trees/keep-root/link", #"{"task_ids": []}"#),
                ("/v1/trees/keep-root/mixed", #"{"link_task_ids": "keep-a"}"#),
                ("/v1/trees/keep-root/archive", #"{"now": true}"#),
                ("/v1/trees/keep-root/execute", #"{"execute": true}"#),
                ("/v1/tasks", #"{"name": "x", "parent_id": 17}"#),
            ]
            for (path, body) in routeBodies {
                expectClientError(try await alice.post(path, body), 400, code: "invalid_argument", "POST \(path) \(body)")
            }

            // Nothing changed: the stored tree is as it was, no other tree exists.
            let trees = try await users.admin.get("/v1/tasks")
            #expect(trees.json["tasks"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == existing.taskIDs, "\(trees)")
            let snapshot = try await d.store.tree("keep-root", userID: nil)
            #expect(snapshot.tree.status == "pending" && !snapshot.tree.started)
            #expect(snapshot.tasks.allSatisfy { $0.status == .pending && $0.error == nil })
            let serverErrors = metricValue(try await users.anonymous.get("/metrics").text, "baton_gateway_http_requests_total", labels: ["status": "500"])
            #expect(serverErrors == 0)
        }
    }

    @Test func idempotentCreate() async throws {
        try await withGateway(agents: []) { d, users in
            let body = #"{"tasks": [{"name": "once", "executor": "echo_executor"}], "execute": false}"#
            let first = try await users.alice.post("/v1/trees", body, headers: ["Idempotency-Key": "order-1"])
            #expect(first.status == 201, "\(first)")
            #expect(first.headers["idempotent-replayed"] == nil)
            // Same key and body (spacing aside): the same answer, no second tree.
            let again = try await users.alice.post("/v1/trees", #"{"execute": false,  "tasks": [{"executor": "echo_executor", "name": "once"}]}"#,
                                                   headers: ["Idempotency-Key": "order-1"])
            #expect(again.status == 201, "\(again)")
            #expect(again.json == first.json)
            #expect(again.headers["idempotent-replayed"] == "true")
            // Same key, another body: refused, nothing created.
            let other = try await users.alice.post("/v1/trees", #"[{"name": "twice", "executor": "echo_executor"}]"#,
                                                   headers: ["Idempotency-Key": "order-1"])
            expectClientError(other, 409, code: "conflict", "same key, other body")
            #expect(other.errorField == "Idempotency-Key")
            // Keys belong to a user: bob's order-1 is his own.
            let bobs = try await users.bob.post("/v1/trees", body, headers: ["Idempotency-Key": "order-1"])
            #expect(bobs.status == 201 && bobs.json != first.json, "\(bobs)")
            // A refused request does not keep its key: the corrected request goes through.
            let refused = try await users.alice.post("/v1/trees", #"[{"name": "bad", "priority": 9}]"#, headers: ["Idempotency-Key": "order-2"])
            expectClientError(refused, 422, "invalid first try")
            let fixed = try await users.alice.post("/v1/trees", #"[{"name": "good", "executor": "echo_executor"}]"#, headers: ["Idempotency-Key": "order-2"])
            #expect(fixed.status == 201, "\(fixed)")
            expectClientError(try await users.alice.post("/v1/trees", body, headers: ["Idempotency-Key": "bad key"]), 400, code: "invalid_argument", "key with a space")

            // Concurrent first requests with one key: one submission, so one tree and one answer.
            let concurrentBody = #"[{"name": "race", "executor": "echo_executor"}]"#
            let answers = try await withThrowingTaskGroup(of: HTTPAnswer.self) { group in
                for _ in 0..<8 {
                    group.addTask { try await users.alice.post("/v1/trees", concurrentBody, headers: ["Idempotency-Key": "race-1"]) }
                }
                return try await group.reduce(into: [HTTPAnswer]()) { $0.append($1) }
            }
            let created = Set(answers.filter { $0.status == 201 }.compactMap { $0.json["tree_id"]?.stringValue })
            #expect(created.count == 1, "\(answers)")
            #expect(answers.allSatisfy { $0.status == 201 }, "\(answers)")
            let aliceTrees = try await users.alice.get("/v1/tasks")
            #expect(aliceTrees.json["tasks"]?.arrayValue?.count == 3, "\(aliceTrees)")
            _ = d
        }
    }
}
