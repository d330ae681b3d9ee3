import BatonCore
import Foundation
import Testing

/// Issue 11, item 6: the CLI for people — watch, list, why, status, execute — and exit codes that
/// say how the tree ended.
@Suite("CLI for people")
struct CLIPeopleTests {
    @Test func commandsSayWhatHappensAndExitCodesSayHowTreesEnded() async throws {
        try await withDeployment(agents: [AgentSpec(executors: ["echo_executor", "fail_executor", "sleep_executor"], concurrency: 2)]) { d in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("baton-cli-\(d.namespace)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            func file(_ name: String, _ json: String) throws -> String {
                let path = directory.appendingPathComponent(name).path
                try json.write(toFile: path, atomically: true, encoding: .utf8)
                return path
            }
            // submit --wait: 0 when the tree completed, 2 when it failed.
            let good = try file("good.json", #"[{"id": "ok", "name": "ok", "executor": "echo_executor"}]"#)
            let bad = try file("bad.json", #"[{"id": "boom", "name": "boom", "executor": "fail_executor", "max_attempts": 1}]"#)
            #expect(try await d.cli(["submit", good, "--wait"]).status == 0)
            let failed = try await d.cli(["submit", bad, "--wait"])
            #expect(failed.status == 2, "\(failed)")

            // watch: the live view's last frame, and the exit code of the finished tree.
            let watched = try await d.cli(["watch", "boom"])
            #expect(watched.status == 2 && watched.output.contains("tree boom  failed"), "\(watched)")
            #expect(watched.output.contains("fail_executor failed"), "the error is shown: \(watched.output)")
            let absurd = try await d.cli(["watch", "boom", "--timeout", "1e300"])
            #expect(absurd.status != 0 && absurd.errors.contains("--timeout must be a number of seconds"), "\(absurd)")
            let slow = try file("slow.json", #"[{"id": "slow", "name": "slow", "executor": "sleep_executor", "inputs": {"seconds": 30}}]"#)
            let timedOut = try await d.cli(["submit", slow, "--watch", "--timeout", "1"])
            #expect(timedOut.status == 4, "\(timedOut)")

            // execute, why, list, status.
            let stored = try file("stored.json", #"[{"id": "later", "name": "later", "executor": "echo_executor"}, {"id": "after", "name": "after", "executor": "echo_executor", "parent_id": "later", "dependencies": ["later"]}]"#)
            #expect(try await d.cli(["submit", stored, "--no-execute"]).output.contains("later"))
            #expect(try await d.cli(["why", "later"]).output.contains("not started"))
            let typo = try file("typo.json", #"[{"id": "lost", "name": "lost", "executor": "echo_exector"}]"#)
            let warned = try await d.cli(["submit", typo])
            #expect(warned.errors.contains("warning: no agent has served executor type 'echo_exector'"), "\(warned)")
            #expect(try await d.cli(["why", "lost"]).output.contains("no live agent serves executor type 'echo_exector'"))
            #expect(try await d.cli(["execute", "later"]).status == 0)
            _ = try await d.waitForTree("later")
            #expect(try await d.cli(["why", "after"]).output.contains("after completed at"))
            #expect(try await d.cli(["why", "boom"]).output.contains("failed at"))
            let list = try await d.cli(["list"]).output
            for tree in ["ok", "boom", "slow", "later", "lost"] { #expect(list.contains(tree), "\(list)") }
            let failedOnly = try await d.cli(["list", "--status", "failed"]).output
            #expect(failedOnly.contains("boom") && !failedOnly.contains("later"), "\(failedOnly)")
            let status = try await d.cli(["status"]).output
            #expect(status.contains("echo_executor") && status.contains("agent-"), "\(status)")
        }
    }
}
