import BatonCore
import Foundation
import Testing

/// Issue 14 through the gateway and the CLI: schedules and `run_at`.
@Suite("Gateway schedules")
struct GatewayScheduleTests {
    @Test func schedulesThroughTheAPIAndTheCLI() async throws {
        try await withGateway(agents: [AgentSpec(executors: ["echo_executor"], concurrency: 2)]) { d, users in
            // Refused, naming the field, nothing stored.
            let bad = try await users.alice.post("/v1/schedules", #"{"tree": [{"name": "a", "executor": "echo_executor"}], "cron": "61 * * * *"}"#)
            expectClientError(bad, 400, code: "invalid_argument", "bad cron")
            #expect(bad.json["error"]?["field"]?.stringValue == "cron")
            #expect(try await users.alice.get("/v1/schedules").json["schedules"]?.arrayValue?.isEmpty == true)

            // Every second, in seconds: runs come, each a copy of the template that completes.
            let created = try await users.alice.post("/v1/schedules", #"{"tree": [{"id": "beat", "name": "beat", "executor": "echo_executor"}], "cron": "* * * * * *", "overlap": "allow"}"#)
            #expect(created.status == 201, "\(created)")
            let id = try #require(created.json["schedule_id"]?.stringValue)
            #expect(created.json["template_tree_id"]?.stringValue == "beat" && created.json["next_at"]?.stringValue != nil)
            try await d.waitUntil("two runs") {
                (try await users.alice.get("/v1/schedules/\(id)/runs").json["runs"]?.arrayValue?.count ?? 0) >= 2
            }
            let runs = try await users.alice.get("/v1/schedules/\(id)/runs").json["runs"]?.arrayValue ?? []
            let run = try #require(runs.first?["tree_id"]?.stringValue)
            #expect(run != "beat")
            _ = try await users.alice.waitForTree(run)
            // Bob sees none of it.
            #expect(try await users.bob.get("/v1/schedules/\(id)").status == 404)
            #expect(try await users.bob.get("/v1/schedules").json["schedules"]?.arrayValue?.isEmpty == true)

            // Pause, resume, delete.
            let paused = try await users.alice.post("/v1/schedules/\(id)/pause")
            #expect(paused.json["paused"]?.boolValue == true && paused.json["next_at"] == .null, "\(paused)")
            let resumed = try await users.alice.post("/v1/schedules/\(id)/resume")
            #expect(resumed.json["paused"]?.boolValue == false && resumed.json["next_at"]?.stringValue != nil)
            #expect(try await users.alice.send("DELETE", "/v1/schedules/\(id)", body: nil).status == 204)
            #expect(try await users.alice.get("/v1/schedules/\(id)").status == 404)

            // run_at: stored at once, not started before its time.
            let at = Timestamp.rfc3339(millis: nowMillis() + 60_000)
            let later = try await users.alice.post("/v1/trees", #"{"tasks": [{"id": "timed", "name": "timed", "executor": "echo_executor"}], "run_at": "\#(at)"}"#)
            #expect(later.status == 201, "\(later)")
            let tree = try await users.alice.get("/v1/trees/timed?flat=true")
            #expect(tree.json["run_at"]?.stringValue == at && tree.json["started"]?.boolValue == false, "\(tree)")
            #expect(tree.json["tasks"]?[0]?["waiting"]?["run_at"]?.stringValue == at)
            let conflicting = try await users.alice.post("/v1/trees", #"{"tasks": [{"name": "x"}], "run_at": "\#(at)", "execute": false}"#)
            expectClientError(conflicting, 400, code: "invalid_argument", "run_at with execute false")

            // The CLI: create, list, runs, pause, delete.
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("baton-schedule-\(d.namespace).json").path
            try #"[{"id": "cli-beat", "name": "cli-beat", "executor": "echo_executor"}]"#.write(toFile: path, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: path) }
            let made = try await d.cli(["schedule", "create", path, "--every", "3600", "--user", "alice"])
            #expect(made.status == 0, "\(made)")
            let cliID = try #require(try JSONValue(parsing: made.output)["schedule_id"]?.stringValue)
            let listed = try await d.cli(["schedule", "list", "--user", "alice"])
            #expect(listed.output.contains(cliID) && listed.output.contains("every 3600 s"), "\(listed)")
            #expect(try await d.cli(["schedule", "runs", cliID, "--user", "alice"]).output.contains("no run yet"))
            #expect(try await d.cli(["schedule", "pause", cliID, "--user", "alice"]).output.contains(#""paused":true"#))
            let wrongCron = try await d.cli(["schedule", "create", path, "--cron", "* * *", "--user", "alice"])
            #expect(wrongCron.status != 0 && wrongCron.errors.contains("cron"), "\(wrongCron)")
            #expect(try await d.cli(["schedule", "delete", cliID, "--user", "alice"]).status == 0)
            #expect(try await d.cli(["schedule", "show", cliID, "--user", "alice"]).status != 0)
        }
    }
}
