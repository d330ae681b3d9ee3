import BatonRuntime
import Foundation
import Synchronization

/// `gateway`: the HTTP API under load, with a real `baton-gateway`, scheduler and agent.
///
/// - creates: 2,000 three-task trees through `POST /v1/trees` (stored, `execute: false`) from 16
///   keep-alive connections; trees per second (median round) and the request latency.
/// - streams: 1,000 Server-Sent Events clients, 20 on each of 50 trees, connected while the trees
///   are stored; then every tree is started (four 1.5 s `sleep_executor` tasks each, with progress
///   reports) and each event's delivery latency is measured: arrival at the client minus the
///   event's `timestamp` (the clock of the transition that wrote it, epoch ms, so a sample is up to
///   1 ms high). Replayed events (older than the start) are not measured. Target: p99 < 50 ms.
struct GatewayWorkload: Workload {
    let name = "gateway"
    let summary = "trees created per second through HTTP; 1,000 SSE clients on running trees, delivery p50/p99"

    static let createConnections = 16
    static let createTrees = 2_000
    static let streamTrees = 50
    static let clientsPerTree = 20
    static let tasksPerTree = 4
    static let apiKey = "bench-key"

    func run(_ context: BenchContext) async throws -> BenchReport {
        let start = ContinuousClock.now
        let rig = try await EngineRig.start(
            context, agents: 1, concurrency: Self.streamTrees * Self.tasksPerTree + 8,
            executors: "sleep_executor,echo_executor")
        let gateway: ChildProcess
        let port: Int
        do {
            (gateway, port) = try await Self.startGateway(context, namespace: rig.namespace)
        } catch {
            await rig.stop()
            throw error
        }
        do {
            var report = BenchReport(workload: name)
            var createLatencies: [Double] = []
            let treesPerSecond = try await context.median("create (trees/s)") {
                let (rate, latencies) = try await Self.createTrees(port: port)
                createLatencies = latencies
                return rate
            }
            let streams = try await Self.streamEvents(port: port, rig: rig)
            let sorted = streams.outcome.latenciesMillis.sorted()
            let created = createLatencies.sorted()
            report.wallSeconds = (ContinuousClock.now - start).seconds
            report.tasks = Self.streamTrees * Self.tasksPerTree
            report.p50Milliseconds = Self.percentile(sorted, 0.50)
            report.p99Milliseconds = Self.percentile(sorted, 0.99)
            report.extra = [
                ("trees_per_s", treesPerSecond),
                ("create_p50_ms", Self.percentile(created, 0.50)),
                ("create_p99_ms", Self.percentile(created, 0.99)),
                ("sse_clients", Double(streams.outcome.connections)),
                ("sse_clients_connected", Double(streams.connected)),
                ("sse_streams_ended", Double(streams.outcome.ended)),
                ("events_received", Double(streams.outcome.events)),
                ("events_measured", Double(sorted.count)),
                ("delivery_p50_ms", Self.percentile(sorted, 0.50)),
                ("delivery_p99_ms", Self.percentile(sorted, 0.99)),
                ("delivery_max_ms", sorted.last),
                ("tree_readers_max", Double(streams.readersMax)),
                ("target_p99_ms", 50),
            ]
            await gateway.stop()
            await rig.stop()
            return report
        } catch {
            await gateway.stop()
            await rig.stop()
            throw error
        }
    }

    // MARK: Steps

    private static func startGateway(_ context: BenchContext, namespace: String) async throws -> (ChildProcess, Int) {
        let binary = "\(ChildProcess.binaryDirectory)/baton-gateway"
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw BenchError("\(binary) is missing: swift build -c release --product baton-gateway")
        }
        let logs = NSTemporaryDirectory() + namespace
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        for _ in 0..<3 {
            let port = ChildProcess.freePort()
            let process = try ChildProcess(
                name: "baton-gateway", executable: binary, arguments: ["--host", "127.0.0.1", "--port", String(port)],
                environment: [
                    "BATON_REDIS_URL": context.redisURL, "BATON_NAMESPACE": namespace, "BATON_LOG_LEVEL": "warning",
                    "BATON_API_KEYS": "\(apiKey)=bench",
                ],
                logPath: "\(logs)/gateway.log")
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline && process.isRunning {
                if let connection = try? BenchHTTPConnection(port: port),
                   (try? connection.request("GET", "/healthz"))?.status == 200 {
                    return (process, port)
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            await process.stop(grace: .seconds(1))
        }
        throw BenchError("baton-gateway did not start; see \(logs)/gateway.log")
    }

    /// ``createTrees`` trees from ``createConnections`` connections; trees per second and each request's latency (ms).
    private static func createTrees(port: Int) async throws -> (Double, [Double]) {
        let prefix = UUID().uuidString.prefix(8).lowercased()
        let perConnection = createTrees / createConnections
        let start = ContinuousClock.now
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for worker in 0..<createConnections {
                group.addTask {
                    try await onThread {
                        let connection = try BenchHTTPConnection(port: port)
                        var samples: [Double] = []
                        samples.reserveCapacity(perConnection)
                        for index in 0..<perConnection {
                            let root = "\(prefix)-\(worker)-\(index)"
                            let body = """
                                {"execute": false, "tasks": [{"id": "\(root)", "name": "root", "executor": "echo_executor"},
                                 {"id": "\(root)-a", "name": "a", "parent_id": "\(root)", "executor": "echo_executor"},
                                 {"id": "\(root)-b", "name": "b", "parent_id": "\(root)", "executor": "echo_executor", "dependencies": ["\(root)-a"]}]}
                                """
                            let sent = ContinuousClock.now
                            let answer = try connection.request(
                                "POST", "/v1/trees", body: body, headers: ["Authorization": "Bearer \(apiKey)"])
                            samples.append((ContinuousClock.now - sent).seconds * 1000)
                            guard answer.status == 201 else { throw BenchError("POST /v1/trees: \(answer.status) \(answer.body)") }
                        }
                        return samples
                    }
                }
            }
            return try await group.reduce(into: [Double]()) { $0 += $1 }
        }
        let seconds = (ContinuousClock.now - start).seconds
        return (Double(perConnection * createConnections) / seconds, latencies)
    }

    private struct StreamResult {
        var outcome: SSEFleet.Outcome
        var connected: Int
        var readersMax: Int
    }

    /// Stores the trees, connects the clients, starts the trees and measures until every stream ended.
    private static func streamEvents(port: Int, rig: EngineRig) async throws -> StreamResult {
        let prefix = UUID().uuidString.prefix(8).lowercased()
        let treeIDs = (0..<streamTrees).map { "\(prefix)-sse-\($0)" }
        try await onThread {
            let connection = try BenchHTTPConnection(port: port)
            for tree in treeIDs {
                var tasks = [#"{"id": "\#(tree)", "name": "root", "executor": "sleep_executor", "inputs": {"seconds": 1.5}}"#]
                for index in 1..<tasksPerTree {
                    tasks.append(#"{"id": "\#(tree)-\#(index)", "name": "t\#(index)", "parent_id": "\#(tree)", "executor": "sleep_executor", "inputs": {"seconds": 1.5}}"#)
                }
                let answer = try connection.request(
                    "POST", "/v1/trees", body: #"{"execute": false, "tasks": [\#(tasks.joined(separator: ","))]}"#,
                    headers: ["Authorization": "Bearer \(apiKey)"])
                guard answer.status == 201 else { throw BenchError("POST /v1/trees: \(answer.status) \(answer.body)") }
            }
        }
        let fleet = SSEFleet()
        let paths = treeIDs.flatMap { tree in Array(repeating: "/v1/trees/\(tree)/events", count: clientsPerTree) }
        BenchLog.info("  connecting \(paths.count) SSE clients to \(treeIDs.count) trees")
        async let outcome = fleet.run(port: port, paths: paths, key: apiKey, deadline: .seconds(180))

        let connectDeadline = ContinuousClock.now + .seconds(60)
        while fleet.connectedCount < paths.count && ContinuousClock.now < connectDeadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let connected = fleet.connectedCount
        try await Task.sleep(for: .milliseconds(500))  // replays done
        let readers = Mutex(0)
        fleet.startMeasuring(at: Int64(Date().timeIntervalSince1970 * 1000))
        BenchLog.info("  \(connected) clients connected; starting the trees")
        try await onThread {
            let connection = try BenchHTTPConnection(port: port)
            for tree in treeIDs {
                let answer = try connection.request("POST", "/v1/trees/\(tree)/execute", headers: ["Authorization": "Bearer \(apiKey)"])
                guard answer.status == 200 else { throw BenchError("execute: \(answer.status) \(answer.body)") }
            }
            let metrics = try connection.request("GET", "/metrics").body
            for line in metrics.split(separator: "\n") where line.hasPrefix("baton_gateway_tree_readers ") {
                readers.withLock { $0 = max($0, Int(line.split(separator: " ").last ?? "") ?? 0) }
            }
        }
        let result = try await outcome
        _ = try await rig.waitForTrees(treeIDs, timeout: .seconds(60))
        return StreamResult(outcome: result, connected: connected, readersMax: readers.withLock { $0 })
    }

    // MARK: Helpers

    private static func percentile(_ sorted: [Double], _ p: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let index = min(sorted.count - 1, max(0, Int((Double(sorted.count) * p).rounded(.up)) - 1))
        return sorted[index]
    }
}

/// Runs blocking work on a thread of its own (not on Swift's cooperative pool).
func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try work() })
        }
        thread.start()
    }
}
