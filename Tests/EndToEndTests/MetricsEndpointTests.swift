import BatonCore
import BatonRuntime
import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Issue 11, item 4: the scheduler and the agent serve `/metrics`, `/healthz` and `/readyz` on
/// `--metrics-port` / `BATON_METRICS_PORT`; the gateway's `/metrics` has the store's metrics too.
@Suite("Metrics endpoints")
struct MetricsEndpointTests {
    func get(_ url: String) async throws -> (status: Int, text: String) {
        let (data, response) = try await URLSession.shared.data(from: try #require(URL(string: url)))
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// The value of the first sample line of `name` whose labels contain every `label`.
    func sample(_ text: String, _ name: String, _ labels: [String] = []) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name) && !line.hasPrefix("#") {
            let head = line.split(separator: " ").first.map(String.init) ?? ""
            guard head == name || head.hasPrefix(name + "{"), labels.allSatisfy({ head.contains($0) }) else { continue }
            return line.split(separator: " ").last.flatMap { Double($0) }
        }
        return nil
    }

    @Test func everyServiceServesItsMetricsAndHealth() async throws {
        try await withDeployment(schedulers: 0, agents: []) { d in
            let schedulerPort = ChildProcess.freePort(), agentPort = ChildProcess.freePort()
            try d.startScheduler(environment: ["BATON_METRICS_PORT": String(schedulerPort)])
            try d.startAgent(AgentSpec(executors: ["echo_executor", "fail_executor"], concurrency: 2,
                                       environment: ["BATON_METRICS_PORT": String(agentPort)]))
            let submitted = try await d.submit("""
                [{"id": "m", "name": "m", "executor": "echo_executor"},
                 {"id": "m1", "name": "m1", "executor": "echo_executor", "parent_id": "m"},
                 {"id": "bad", "name": "bad", "executor": "fail_executor", "parent_id": "m", "max_attempts": 1}]
                """)
            _ = try await d.waitForTree(submitted.treeID)
            let agentBase = "http://127.0.0.1:\(agentPort)", schedulerBase = "http://127.0.0.1:\(schedulerPort)"
            try await d.waitUntil("the agent's counters show the attempts") {
                let text = try await get(agentBase + "/metrics").text
                return sample(text, "baton_agent_tasks_finished_total", [#"executor="echo_executor""#, #"outcome="completed""#]) == 2
            }
            let agent = try await get(agentBase + "/metrics").text
            #expect(sample(agent, "baton_agent_tasks_claimed_total", [#"executor="echo_executor""#]) == 2, "\(agent)")
            #expect(sample(agent, "baton_agent_tasks_finished_total", [#"executor="fail_executor""#, #"outcome="failed""#]) == 1)
            #expect(sample(agent, "baton_agent_task_duration_seconds_count", [#"executor="echo_executor""#]) == 2)
            #expect(sample(agent, "baton_redis_script_duration_seconds_count", [#"operation="claim""#]) ?? 0 >= 1)
            #expect(try await get(agentBase + "/healthz").status == 200)
            #expect(try await get(agentBase + "/readyz").status == 200)

            // The agent applied its own reports; the scheduler counts them when it replays them
            // (in batches, every second).
            try await d.waitUntil("the scheduler samples its gauges and replayed the reports") {
                let text = try await get(schedulerBase + "/metrics").text
                // The gauges are sampled periodically: a sample taken before the agent's record
                // was written counts no agent (seen once on a loaded fresh-clone run).
                return sample(text, "baton_queue_ready_tasks", [#"executor="echo_executor""#]) != nil
                    && sample(text, "baton_executor_agents", [#"executor="echo_executor""#]) == 1
                    && sample(text, "baton_scheduler_reports_applied_total", [#"kind="failed""#]) != nil
            }
            let scheduler = try await get(schedulerBase + "/metrics").text
            #expect(sample(scheduler, "baton_scheduler_reports_applied_total", [#"kind="completed""#]) == 2, "\(scheduler)")
            #expect(sample(scheduler, "baton_scheduler_reports_applied_total", [#"kind="failed""#]) == 1)
            #expect(sample(scheduler, "baton_bus_pending_entries") != nil)
            #expect(sample(scheduler, "baton_executor_agents", [#"executor="echo_executor""#]) == 1)
            #expect(sample(scheduler, "baton_redis_script_duration_seconds_count", [#"operation="apply""#]) ?? 0 >= 1)
            #expect(try await get(schedulerBase + "/readyz").text.contains("\"ready\""))

            // The gateway's /metrics has the store's metrics beside its HTTP ones.
            let base = try await d.startGateway()
            _ = try await GatewayClient(base: base, key: "alice-key").createTree(#"[{"id": "gw", "name": "gw", "executor": "echo_executor"}]"#)
            let gateway = try await get(base + "/metrics").text
            #expect(sample(gateway, "baton_redis_script_duration_seconds_count", [#"operation="submit""#]) ?? 0 >= 1, "\(gateway)")
        }
    }

    @Test func aBadMetricsPortStopsTheServiceNamingIt() async throws {
        try await withDeployment(schedulers: 0, agents: []) { d in
            let bad = try d.startScheduler(environment: ["BATON_METRICS_PORT": "http"])
            try await d.waitUntil("the scheduler exits", timeout: .seconds(15)) { !bad.isRunning }
            let log = (try? String(contentsOfFile: bad.logPath, encoding: .utf8)) ?? ""
            #expect(log.contains("BATON_METRICS_PORT must be a port number"), "\(log)")
        }
    }
}
