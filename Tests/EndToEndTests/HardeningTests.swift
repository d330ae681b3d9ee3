import BatonCore
import BatonStore
import Foundation
import RedisClient
import Testing

/// Regression tests for every attack of issue 8 ("Hardening"), against the real stack: each
/// asserts the precise 4xx answer (or the task's clear failure), that every Baton process is still
/// alive, and that the key space outside the caller's own trees is byte-identical before and after.
@Suite("Hardening")
struct HardeningTests {
    // MARK: A request kills a service

    @Test func overflowingCursorIsRefusedAndTheGatewayLives() async throws {
        try await withGateway(agents: []) { d, users in
            _ = try await users.alice.createTree(#"{"tasks": [{"id": "c1", "name": "c1", "executor": "echo_executor"}], "execute": false}"#)
            let before = try await keySpace(d)
            for decoded in ["c1\n9223372036854775807", "c1\n9223372036854775600", "c1\n2", "c}\n1"] {
                let cursor = Data(decoded.utf8).base64EncodedString()
                    .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                    .replacingOccurrences(of: "=", with: "")
                let answer = try await users.alice.get("/v1/tasks?cursor=\(cursor)")
                expectClientError(answer, 400, code: "invalid_argument", "cursor \(decoded.debugDescription)")
                #expect(answer.errorField == "cursor")
            }
            #expect(try await keySpace(d) == before)
            expectAllAlive(d)
        }
    }

    @Test func hugeDurationsAreRefusedAtSubmissionAndNeverKillAnAgent() async throws {
        try await withGateway { d, users in
            let before = try await keySpace(d)
            for body in [#"[{"name": "t", "executor": "echo_executor", "timeout_s": 1e300}]"#,
                         #"[{"name": "t", "executor": "echo_executor", "timeout_s": 604801}]"#,
                         #"[{"name": "t", "executor": "echo_executor", "backoff": {"strategy": "fixed", "base_s": 1e300}}]"#,
                         #"[{"name": "t", "executor": "echo_executor", "max_attempts": 1000000}]"#] {
                let answer = try await users.alice.post("/v1/trees", body)
                expectClientError(answer, 422, code: "validation_failed", body)
                #expect(answer.errorField?.hasPrefix("tasks[0].") == true, "\(answer)")
            }
            #expect(try await keySpace(d) == before)

            // An executor input out of range fails the task; the agent that ran it lives on.
            let sleepy = try await users.alice.createTree(#"[{"id": "zz", "name": "zz", "executor": "sleep_executor", "inputs": {"seconds": 1e300}}]"#)
            let tree = try await users.alice.waitForTree(sleepy.treeID)
            #expect(tree["status"] == "failed", "\(tree)")
            let error = try await d.store.task("zz", userID: nil).error ?? ""
            #expect(error.contains("seconds"), "\(error)")

            // A record whose timeout_s is out of range (written straight into Redis) is failed with
            // the reason by the agent that claims it, instead of killing it.
            _ = try await users.alice.createTree(#"{"tasks": [{"id": "rec", "name": "rec", "executor": "echo_executor"}], "execute": false}"#)
            try await d.store.redis.send("HSET", d.store.keys.task("rec", "rec"), "timeout_s", "1e300")
            #expect(try await users.alice.post("/v1/trees/rec/execute").status == 200)
            _ = try await users.alice.waitForTree("rec")
            let record = try await d.store.task("rec", userID: nil)
            #expect(record.status == .failed && record.error?.contains("timeout_s") == true, "\(record)")
            expectAllAlive(d)
        }
    }

    // MARK: Ids escape their keys

    @Test func idsThatWouldNameAnotherUsersKeyAreRefused() async throws {
        try await withGateway(agents: []) { d, users in
            let before = try await keySpace(d)
            let alice = try await users.alice.post("/v1/trees", #"[{"id": "ax}:task:P", "name": "secret", "executor": "echo_executor", "inputs": {"pin": "1234"}}]"#)
            expectClientError(alice, 422, code: "validation_failed", "alice's tree id with a brace")
            #expect(alice.errorField == "tasks[0].id")
            let bob = try await users.bob.post("/v1/trees", #"[{"id": "ax", "name": "root", "executor": "echo_executor"}, {"id": "P}:tree", "name": "probe", "executor": "echo_executor", "parent_id": "ax"}]"#)
            expectClientError(bob, 422, code: "validation_failed", "bob's task id with a brace")
            #expect(bob.errorField == "tasks[1].id")
            for executor in ["x}:ready", "{q:echo_executor"] {
                let answer = try await users.bob.post("/v1/trees", #"[{"name": "e", "executor": "\#(executor)"}]"#)
                expectClientError(answer, 422, code: "validation_failed", "executor \(executor)")
            }
            #expect(try await keySpace(d) == before)
            expectAllAlive(d)
        }
    }

    // MARK: A refused request is half-stored

    @Test func aSubmissionOverAPlantedKeyIsRefusedAndChangesNothing() async throws {
        try await withGateway(agents: []) { d, users in
            // A key left where a task of a later tree will live (a string, so HSET would fail).
            try await d.store.redis.send("SET", d.store.keys.task("T", "X"), "planted")
            try await d.store.redis.send("HSET", d.store.keys.task("T2", "Y"), "params", #"{"inherited":true}"#, "max_attempts", "7")
            let before = try await keySpace(d)
            let first = try await users.alice.post("/v1/trees", #"[{"id": "T", "name": "t", "executor": "echo_executor"}, {"id": "X", "name": "x", "executor": "echo_executor", "parent_id": "T"}]"#)
            expectClientError(first, 409, "task key already holds a value")
            let second = try await users.bob.post("/v1/trees", #"[{"id": "T2", "name": "t", "executor": "echo_executor"}, {"id": "Y", "name": "y", "executor": "echo_executor", "parent_id": "T2"}]"#)
            expectClientError(second, 409, "task key already holds a hash")
            #expect(try await keySpace(d) == before)
            expectAllAlive(d)
        }
    }

    // MARK: Executors reach the host

    @Test func privilegedExecutorsAreRefusedForUsersByName() async throws {
        try await withGateway(agents: []) { d, users in
            let before = try await keySpace(d)
            let bodies = [
                (#"[{"name": "read", "executor": "command_executor", "inputs": {"command": "date", "args": ["-f", "/etc/shadow"]}}]"#, "tasks[0].executor"),
                (#"[{"name": "probe", "executor": "rest_executor", "inputs": {"url": "http://127.0.0.1:6379/"}}]"#, "tasks[0].executor"),
                (#"[{"name": "sneaky", "params": {"executor_id": "command_executor"}}]"#, "tasks[0].params.executor_id"),
                (#"[{"name": "command_executor"}]"#, "tasks[0].name"),
            ]
            for (body, field) in bodies {
                let answer = try await users.alice.post("/v1/trees", body)
                expectClientError(answer, 403, code: "forbidden", body)
                #expect(answer.errorField == field, "\(answer)")
            }
            let single = try await users.bob.post("/v1/tasks", #"{"name": "one", "executor": "rest_executor"}"#)
            expectClientError(single, 403, code: "forbidden", "POST /v1/tasks with rest_executor")
            #expect(single.errorField == "executor")
            #expect(try await keySpace(d) == before)
            expectAllAlive(d)
        }
    }

    @Test func commandExecutorCannotReadFilesOrInjectCodeEvenForAdmins() async throws {
        try await withGateway(agents: [AgentSpec(executors: ["command_executor", "rest_executor"])]) { d, users in
            let attempts: [(String, String)] = [
                ("date", #"{"command": "date", "args": ["-f", "/etc/passwd"]}"#),
                ("path", #"{"command": "/any/path/echo", "args": ["x"]}"#),
                ("relative", #"{"command": "../../bin/echo", "args": ["x"]}"#),
                ("preload", #"{"command": "echo", "args": ["x"], "env": {"LD_PRELOAD": "/tmp/evil.so"}}"#),
                ("path-env", #"{"command": "echo", "args": ["x"], "env": {"PATH": "/tmp"}}"#),
            ]
            for (id, inputs) in attempts {
                let created = try await users.admin.createTree(#"[{"id": "cmd-\#(id)", "name": "n", "executor": "command_executor", "inputs": \#(inputs)}]"#)
                let tree = try await users.admin.waitForTree(created.treeID)
                #expect(tree["status"] == "failed", "\(id): \(tree)")
                let task = try await d.store.task("cmd-\(id)", userID: nil)
                #expect(task.result?["stdout"] == nil || task.result?["stdout"] == "", "\(id) ran: \(task)")
                #expect(!(task.error ?? "").contains("root:"), "\(id) leaked a file: \(task)")
            }
            // The REST executor gives one answer for Redis, a closed port and link-local.
            var errors: Set<String> = []
            let redis = d.redisURL.split(separator: ",").last.map(String.init) ?? d.redisURL  // a cluster's last seed
            for (id, url) in [("redis", redis.replacingOccurrences(of: "redis://", with: "http://")),
                              ("closed", "http://127.0.0.1:1/"), ("metadata", "http://169.254.169.254/latest/")] {
                let created = try await users.admin.createTree(#"[{"id": "rest-\#(id)", "name": "n", "executor": "rest_executor", "inputs": {"url": "\#(url)", "method": "POST", "timeout_s": 5}}]"#)
                _ = try await users.admin.waitForTree(created.treeID)
                let task = try await d.store.task("rest-\(id)", userID: nil)
                #expect(task.status == .failed, "\(id): \(task)")
                errors.insert((task.error ?? "").replacingOccurrences(of: url, with: "URL")
                    .replacingOccurrences(of: "127.0.0.1", with: "HOST").replacingOccurrences(of: "169.254.169.254", with: "HOST"))
            }
            #expect(errors.count == 1, "refused and unreachable destinations must read the same: \(errors)")
            #expect(try await d.store.redis.send("EXISTS", "/probe").int == 0)
            expectAllAlive(d)
        }
    }

    // MARK: Silent data loss

    @Test func resultsTooDeepToMergeFailTheTaskInsteadOfVanishing() async throws {
        try await withGateway(agents: [AgentSpec(executors: ["echo_executor", "aggregate_results_executor"])]) { d, users in
            // Each aggregate step returns its merged inputs, one level deeper than its dependency's result.
            let nested = String(repeating: "[", count: 505) + String(repeating: "]", count: 505)
            var tasks = [#"{"id": "d0", "name": "d0", "executor": "echo_executor", "inputs": {"ret": \#(nested)}}"#]
            for step in 1...9 {
                tasks.append(#"{"id": "d\#(step)", "name": "d\#(step)", "executor": "aggregate_results_executor", "parent_id": "d0", "dependencies": ["d\#(step - 1)"]}"#)
            }
            let created = try await users.alice.createTree("[" + tasks.joined(separator: ",") + "]")
            // Read through the store: the tree's JSON nests its results deeper than a strict client parses.
            let tree = try await d.waitForTree(created.treeID)
            #expect(tree.tree.status == "failed", "\(tree.summary)")
            let records = tree.tasks
            let failed = records.filter { $0.status == .failed }
            #expect(failed.count == 1, "\(records.map { "\($0.id): \($0.status) \($0.error ?? "")" })")
            let error = failed.first?.error ?? ""
            #expect(error.contains("deep") || error.contains("nest"), "\(error)")
            // Nothing ran with emptied inputs: every completed step received its dependency's result.
            for record in records where record.status == .completed && record.id != "d0" {
                #expect(record.inputs.objectValue?.isEmpty == false, "\(record.id) ran with \(record.inputs)")
            }
            expectAllAlive(d)
        }
    }

    // MARK: The Redis-native entry differs from the gateway

    @Test func theRedisNativeEntryRunsTheGatewaysChecks() async throws {
        try await withGateway(agents: []) { d, users in
            let owned = try await users.alice.createTree(#"{"tasks": [{"id": "mine", "name": "mine", "executor": "echo_executor", "inputs": {"secret": "s"}}], "execute": false}"#)
            let waiter = d.store.redis.makeBlockingConnection(name: "e2e-hardening-waiter")
            defer { waiter.close() }
            func native(_ requestID: String, _ fields: [[UInt8]]) async throws -> JSONValue {
                let command = RedisCommand(bytes: [Array("XADD".utf8), Array(d.store.keys.submissions.utf8), Array("*".utf8),
                                                   Array("request_id".utf8), Array(requestID.utf8)] + fields)
                _ = try await d.store.redis.send(command)
                let answer = try await waiter.send(
                    RedisCommand("BLPOP", d.store.keys.submissionReply(requestID), "20"), timeout: .seconds(25))
                return try JSONValue(parsing: try #require(answer.array?.last?.string, "no reply for \(requestID)\n\(d.diagnostics())"))
            }
            func text(_ pairs: [String]) -> [[UInt8]] { pairs.map { Array($0.utf8) } }
            let before = try await keySpace(d)

            var invalidUTF8 = Array(#"[{"name": "n"#.utf8)
            invalidUTF8 += [0xFF, 0xFE]
            invalidUTF8 += Array(#"", "executor": "echo_executor"}]"#.utf8)
            let utf8 = try await native("utf8", text(["user_id", "alice", "tasks"]) + [invalidUTF8])
            #expect(utf8["ok"] == false && utf8["error"]?["code"] == "invalid_argument", "\(utf8)")

            let maybe = try await native("maybe", text(["user_id", "alice", "execute", "maybe", "tasks", #"[{"name": "n", "executor": "echo_executor"}]"#]))
            #expect(maybe["error"]?["field"] == "execute", "\(maybe)")

            let big = #"[{"name": "n", "executor": "echo_executor", "inputs": {"blob": ""# + String(repeating: "x", count: 10_485_760) + #""}}]"#
            let tooLarge = try await native("big", text(["user_id", "alice", "tasks", big]))
            #expect(tooLarge["error"]?["code"] == "payload_too_large", "\(tooLarge["error"] ?? .null)")

            let stealing = try await native("steal", text(["tasks", #"[{"name": "thief", "executor": "echo_executor", "dependencies": ["mine"]}]"#]))
            #expect(stealing["error"]?["code"] == "validation_failed" && stealing["error"]?["field"] == "tasks[0].dependencies[0]", "\(stealing)")
            let bobSteals = try await native("bob-steal", text(["user_id", "bob", "tasks", #"[{"name": "thief", "executor": "echo_executor", "dependencies": ["mine"]}]"#]))
            #expect(bobSteals["error"]?["code"] == "validation_failed", "\(bobSteals)")

            let privileged = try await native("cmd", text(["user_id", "alice", "tasks", #"[{"name": "c", "executor": "command_executor", "inputs": {"command": "echo"}}]"#]))
            #expect(privileged["error"]?["code"] == "forbidden" && privileged["error"]?["field"] == "tasks[0].executor", "\(privileged)")
            let anonymous = try await native("cmd-anon", text(["tasks", #"[{"name": "c", "executor": "rest_executor"}]"#]))
            #expect(anonymous["error"]?["code"] == "forbidden", "\(anonymous)")
            let braces = try await native("braces", text(["user_id", "al}ice", "tasks", #"[{"name": "c", "executor": "echo_executor"}]"#]))
            #expect(braces["error"]?["field"] == "user_id", "\(braces)")

            // Only the answers were written: results stream entries and reply lists.
            let after = try await keySpace(d)
            let changed = Set(after.keys).union(before.keys).filter { after[$0] != before[$0] }
            let answers = Set([d.store.keys.submissionResults, d.store.keys.submissions]
                + ["utf8", "maybe", "big", "steal", "bob-steal", "cmd", "cmd-anon", "braces"].map(d.store.keys.submissionReply))
            #expect(changed.isSubset(of: answers), "\(changed.subtracting(answers))")
            #expect(try await d.store.task("mine", userID: nil).inputs == ["secret": "s"])
            _ = owned
            expectAllAlive(d)
        }
    }
}

/// Every key of the deployment's namespace with its `DUMP` (type, value and encoding), so that
/// two snapshots compare byte for byte — except the services' own liveness bookkeeping, which
/// they refresh every few seconds whatever the callers do (`executors:served`, `scheduler:alive:*`).
func keySpace(_ d: Deployment) async throws -> [String: [UInt8]] {
    // Liveness records change on their own: served types, schedulers' and agents' heartbeats.
    let liveness = [d.store.keys.executorsServed, d.store.keys.schedulerAlive(""), d.store.keys.agent(""), d.store.keys.agents]
    var dump: [String: [UInt8]] = [:]
    var cursor = "0"
    repeat {
        let reply = try await d.store.redis.send("SCAN", cursor, "MATCH", "\(d.namespace):*", "COUNT", "1000")
        guard let parts = reply.array, parts.count == 2 else { break }
        cursor = parts[0].string ?? "0"
        for key in (parts[1].array ?? []).compactMap(\.string) where !liveness.contains(where: key.hasPrefix) {
            dump[key] = try await d.store.redis.send("DUMP", key).bytes ?? []
        }
    } while cursor != "0"
    return dump
}

/// Every process the deployment started is still running.
func expectAllAlive(_ d: Deployment, sourceLocation: SourceLocation = #_sourceLocation) {
    let dead = d.processes.filter { !$0.isRunning }.map(\.name)
    #expect(dead.isEmpty, "processes died: \(dead)\n\(d.diagnostics())", sourceLocation: sourceLocation)
}
