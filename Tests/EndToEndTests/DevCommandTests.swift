import BatonCore
import BatonRuntime
import Foundation
import Testing

/// The README's first command: `baton dev` starts its own Redis and every service, runs the
/// quickstart tree to the end and stops everything (`--once` for scripts and CI).
@Suite struct DevCommandTests {
    /// `baton dev --cluster 3` does the same on a local Redis Cluster of its own (issue 10).
    @Test(arguments: [false, true])
    func devRunsTheQuickstartTreeAndStopsEverything(onACluster: Bool) async throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let example = repository.appendingPathComponent("examples/quickstart.json").path
        let log = NSTemporaryDirectory() + "baton-dev-test-\(UUID().uuidString.prefix(8)).log"
        let dev = try ChildProcess(
            name: "baton", executable: "\(ChildProcess.binaryDirectory)/baton",
            arguments: ["dev", "--once", "--example", example] + (onACluster ? ["--cluster", "3"] : []),
            environment: ["BATON_LOG_LEVEL": "warning"], logPath: log)
        let deadline = ContinuousClock.now + .seconds(60)
        while dev.isRunning && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        defer { try? FileManager.default.removeItem(atPath: log) }
        #expect(!dev.isRunning, "baton dev --once did not stop within 60 s:\n\(output)")
        await dev.stop()

        // stdout and stderr share the log: the final tree is the one JSON line.
        let line = try #require(output.split(separator: "\n").first { $0.hasPrefix("{") }, "no tree printed:\n\(output)")
        let tree = try JSONValue(parsing: String(line))
        #expect(tree["task_count"] == 15)
        #expect(tree["counts"]?["completed"] == 14 && tree["counts"]?["failed"] == 1, "\(output)")
        #expect(output.contains("gateway    http://127.0.0.1:"), "the gateway URL is printed")
        #expect(output.contains("stopping"))
        #expect(output.contains("(a cluster of 3 masters)") == onACluster, "\(output)")
        if onACluster {
            // Every node of the cluster it started is gone again.
            let ports = output.split(separator: "\n").first { $0.contains("redis      ") }?
                .split(separator: ",").compactMap { $0.split(separator: ":").last.flatMap { Int($0.prefix { $0.isNumber }) } } ?? []
            #expect(ports.count == 3, "\(output)")
            for port in ports { #expect(ChildProcess.isFree(port), "port \(port) still taken") }
        }
    }
}
