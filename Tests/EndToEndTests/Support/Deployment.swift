import BatonConfig
import BatonCore
import BatonRuntime
import BatonStore
import Foundation
import RedisClient
import Synchronization
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One `baton-agent` process to start: its executor types, concurrency and extra environment.
struct AgentSpec: Sendable {
    var executors: [String]
    var concurrency: Int
    var environment: [String: String] = [:]

    init(
        executors: [String] = ["echo_executor", "sleep_executor", "fail_executor", "aggregate_results_executor"],
        concurrency: Int = 4,
        environment: [String: String] = [:]
    ) {
        self.executors = executors
        self.concurrency = concurrency
        self.environment = environment
    }
}

/// A failure of the harness (a wait that timed out, a process that would not start); the
/// message carries the tails of the processes' logs.
struct DeploymentError: Error, CustomStringConvertible {
    let description: String
}

/// A real Baton deployment for one test: `baton-scheduler`, `baton-agent` (and on request
/// `baton-gateway`) processes on their own key namespace of the test Redis (`BATON_REDIS_URL`).
///
/// Nothing is mocked: the test talks to the processes only through Redis (and HTTP for the
/// gateway). Use ``withDeployment(schedulers:agents:environment:_:)`` so that every process is
/// stopped whatever the test does.
final class Deployment: Sendable {
    /// Unique per deployment, e.g. `e2e-1a2b3c4d`.
    let namespace: String
    let redisURL: String
    /// A store on ``namespace``, for submitting and reading like any client.
    let store: BatonStore
    /// Where the executables are.
    let binaryDirectory: String
    /// Where the processes' logs go.
    let logDirectory: String

    /// The environment every child gets (before per-process additions).
    private let baseEnvironment: [String: String]
    private let children = Mutex<[ChildProcess]>([])
    private let sequence = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)

    /// Short timings so that lease and shutdown tests take seconds, not minutes.
    static let defaultTimings: [String: String] = [
        "BATON_AGENT_LEASE_S": "2",
        "BATON_AGENT_HEARTBEAT_INTERVAL_S": "0.3",
        "BATON_SCHEDULER_REAPER_INTERVAL_MS": "200",
        "BATON_AGENT_SHUTDOWN_GRACE_S": "2",
    ]

    private init(environment: [String: String]) throws {
        let redisURL = try Self.testRedisURL()
        let namespace = "e2e-\(UUID().uuidString.prefix(8).lowercased())"
        self.namespace = namespace
        self.redisURL = redisURL
        baseEnvironment = Self.defaultTimings
            .merging(["BATON_REDIS_URL": redisURL, "BATON_NAMESPACE": namespace]) { $1 }
            .merging(environment) { $1 }
        // The test's own store keys its queues and bus as the processes do.
        let config = try BatonConfig.load(environment: baseEnvironment)
        store = BatonStore(
            redis: try RedisClient(url: redisURL),
            keys: Keys(namespace: namespace, busShards: config.bus.shards, queueShards: config.queueShards))
        binaryDirectory = try Self.locateBinaries()
        logDirectory = FileManager.default.temporaryDirectory
            .appendingPathComponent("baton-\(namespace)").path
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
    }

    deinit {
        // A deployment that was never stopped must not leave processes behind.
        for child in children.withLock({ $0 }) where child.isRunning { child.signal(SIGKILL) }
    }

    /// Starts `schedulers` scheduler processes and one agent process per spec.
    static func start(
        schedulers: Int = 1, agents: [AgentSpec] = [AgentSpec()], environment: [String: String] = [:]
    ) async throws -> Deployment {
        let deployment = try Deployment(environment: environment)
        do {
            for _ in 0..<schedulers { try deployment.startScheduler() }
            for spec in agents { try deployment.startAgent(spec) }
        } catch {
            await deployment.stop()
            throw error
        }
        return deployment
    }

    // MARK: Processes

    /// Starts one more `baton-scheduler`.
    @discardableResult
    func startScheduler(environment: [String: String] = [:]) throws -> ChildProcess {
        try launch("baton-scheduler", arguments: [], environment: environment)
    }

    /// Starts one more `baton-agent` with the spec's executors and concurrency.
    @discardableResult
    func startAgent(_ spec: AgentSpec) throws -> ChildProcess {
        try launch(
            "baton-agent",
            arguments: ["--executor", spec.executors.joined(separator: ","), "--concurrency", String(spec.concurrency)],
            environment: spec.environment)
    }

    /// Starts `baton-gateway` on a free port with these API keys (`BATON_API_KEYS` format) and
    /// waits until `GET /healthz` answers 200; returns the base URL, e.g. `http://127.0.0.1:PORT`.
    func startGateway(
        apiKeys: String = "alice-key=alice,bob-key=bob,admin-key=root:admin", environment: [String: String] = [:]
    ) async throws -> String {
        var lastError = ""
        for _ in 0..<3 {
            let port = ChildProcess.freePort()
            let process = try launch(
                "baton-gateway", arguments: ["--host", "127.0.0.1", "--port", String(port)],
                environment: ["BATON_API_KEYS": apiKeys, "BATON_GATEWAY_HOST": "127.0.0.1", "BATON_GATEWAY_PORT": String(port)]
                    .merging(environment) { $1 })
            let base = "http://127.0.0.1:\(port)"
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline && process.isRunning {
                if await Self.healthy(base) { return base }
                try await Task.sleep(for: .milliseconds(50))
            }
            lastError = process.isRunning ? "did not answer GET /healthz with 200 within 20 s" : "exited"
            await process.stop(grace: .seconds(1))
            // It may have lost the port to another process between the probe and the bind: try another.
        }
        throw DeploymentError(description: "baton-gateway \(lastError)\n\(diagnostics())")
    }

    private static func healthy(_ base: String) async -> Bool {
        guard let url = URL(string: "\(base)/healthz") else { return false }
        var request = URLRequest(url: url)
        request.timeoutInterval = 2
        do {
            let (_, response) = try await URLSession.shared.data(for: request)
            return (response as? HTTPURLResponse)?.statusCode == 200
        } catch {
            return false
        }
    }

    private func launch(_ executable: String, arguments: [String], environment: [String: String]) throws -> ChildProcess {
        if stopped.load(ordering: .relaxed) {
            throw DeploymentError(description: "deployment \(namespace) is already stopped")
        }
        let number = sequence.wrappingAdd(1, ordering: .relaxed).newValue
        let name = "\(executable)-\(number)"
        let path = "\(binaryDirectory)/\(executable)"
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw DeploymentError(description: "\(path) is not an executable: build with `swift build --build-tests`")
        }
        let child = try ChildProcess(
            name: name, executable: path, arguments: arguments,
            environment: baseEnvironment.merging(environment) { $1 },
            logPath: "\(logDirectory)/\(name).log")
        children.withLock { $0.append(child) }
        return child
    }

    /// Every process started so far, in start order.
    var processes: [ChildProcess] { children.withLock { $0 } }

    /// Stops every process it started (SIGTERM, then SIGKILL), concurrently, and removes the
    /// namespace's keys. Idempotent.
    func stop() async {
        if stopped.exchange(true, ordering: .relaxed) { return }
        let all = processes
        await withTaskGroup(of: Void.self) { group in
            for child in all {
                group.addTask { await child.stop(grace: .seconds(3)) }
            }
        }
        await deleteKeys()
        store.redis.close()
    }

    /// Removes every key of the namespace (never FLUSHALL: other tests share the Redis).
    private func deleteKeys() async {
        guard let keys = try? await store.redis.scan(match: "\(namespace):*") else { return }
        // One UNLINK per key: on a cluster the keys live in many slots.
        _ = try? await store.redis.pipeline(keys.map { RedisCommand("UNLINK", $0) })
    }

    /// Deletes the log files (called after a test that did not throw).
    func removeLogs() {
        try? FileManager.default.removeItem(atPath: logDirectory)
    }

    // MARK: Client side

    /// Submits a JSON array of tasks (or `{"tasks": [...]}`) as `user`, straight through the store.
    func submit(_ json: String, user: String? = "alice", execute: Bool = true) async throws -> SubmitResult {
        try await store.submit(try TaskSubmission.decode(data: Data(json.utf8)), userID: user, execute: execute)
    }

    /// Polls until the tree's status is completed/failed/cancelled; throws with the tree's state
    /// and the processes' log tails on timeout.
    func waitForTree(_ treeID: String, timeout: Duration = .seconds(20)) async throws -> TreeSnapshot {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let record = try? await store.treeRecord(treeID, userID: nil), record.isFinished {
                return try await store.tree(treeID, userID: nil)
            }
            if ContinuousClock.now >= deadline { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        var state = "tree \(treeID) not found"
        if let snapshot = try? await store.tree(treeID, userID: nil) {
            state = "tree \(treeID): \(snapshot.tree.status) \(snapshot.tree.counts)\n"
                + snapshot.tasks.map { "  \($0.id): \($0.status.rawValue) attempt \($0.attempt)"
                    + ($0.blockedBy.map { " blocked_by \($0)" } ?? "") + ($0.error.map { " error \($0)" } ?? "") }
                .joined(separator: "\n")
        }
        throw DeploymentError(description: "tree \(treeID) did not finish within \(timeout)\n\(state)\n\(diagnostics())")
    }

    /// Polls `condition` every 20 ms until it is true; throws naming `description` on timeout.
    func waitUntil(
        _ description: String, timeout: Duration = .seconds(20), _ condition: @Sendable () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            if try await condition() { return }
            if ContinuousClock.now >= deadline { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw DeploymentError(description: "timed out after \(timeout) waiting until \(description)\n\(diagnostics())")
    }

    /// Every event of the tree's stream, in order, as field dictionaries (`XRANGE <events> - +`).
    func events(_ treeID: String) async throws -> [[String: String]] {
        let reply = try await store.redis.send("XRANGE", store.keys.treeEvents(treeID), "-", "+")
        return (reply.array ?? []).compactMap { entry -> [String: String]? in
            guard let parts = entry.array, parts.count == 2 else { return nil }
            let fields = (parts[1].array ?? []).map { $0.string ?? "" }
            var event: [String: String] = [:]
            var index = 0
            while index + 1 < fields.count {
                event[fields[index]] = fields[index + 1]
                index += 2
            }
            return event
        }
    }

    // MARK: Diagnostics

    /// The last lines of every process's log, for failure messages.
    func diagnostics(lines: Int = 25) -> String {
        processes.map { child in
            let text = (try? String(contentsOfFile: child.logPath, encoding: .utf8)) ?? ""
            let tail = text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
            let state = child.isRunning ? "running" : "exited"
            return "--- \(child.name) (pid \(child.processIdentifier), \(state)) \(child.logPath)\n\(tail)"
        }.joined(separator: "\n")
    }

    // MARK: Setup

    static func testRedisURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["BATON_REDIS_URL"], !url.isEmpty else {
            throw DeploymentError(description: "BATON_REDIS_URL is not set: run the tests with scripts/test")
        }
        return url
    }

    /// `BATON_BIN_DIR` if set, else the directory of the running test binary
    /// (``ChildProcess/binaryDirectory``), else the directory that holds the test bundle.
    static func locateBinaries() throws -> String {
        var candidates: [String] = []
        if let dir = ProcessInfo.processInfo.environment["BATON_BIN_DIR"], !dir.isEmpty { candidates.append(dir) }
        candidates.append(ChildProcess.binaryDirectory)
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            candidates.append(URL(fileURLWithPath: bundle.bundlePath).deletingLastPathComponent().path)
        }
        if let executable = Bundle.main.executablePath {
            var url = URL(fileURLWithPath: executable).resolvingSymlinksInPath()
            // Inside a bundle (`….xctest/Contents/MacOS/x`): the folder that holds the bundle.
            while url.pathComponents.count > 1 {
                url.deleteLastPathComponent()
                if url.pathExtension == "xctest" {
                    candidates.append(url.deletingLastPathComponent().path)
                    break
                }
            }
        }
        for dir in candidates where FileManager.default.isExecutableFile(atPath: "\(dir)/baton-scheduler") {
            return dir
        }
        throw DeploymentError(description: "baton-scheduler not found in \(candidates); build with `swift build --build-tests` or set BATON_BIN_DIR")
    }
}

/// Runs `body` on a fresh deployment and always stops it, even when `body` throws. A thrown
/// error is reported with the processes' log tails (a failed `#require` already reported itself);
/// the log files are kept then, and deleted otherwise unless `BATON_E2E_KEEP_LOGS` is set.
func withDeployment<T>(
    schedulers: Int = 1,
    agents: [AgentSpec] = [AgentSpec()],
    environment: [String: String] = [:],
    _ body: (Deployment) async throws -> T
) async throws -> T {
    let deployment = try await Deployment.start(schedulers: schedulers, agents: agents, environment: environment)
    do {
        let value = try await body(deployment)
        await deployment.stop()
        if ProcessInfo.processInfo.environment["BATON_E2E_KEEP_LOGS"] == nil { deployment.removeLogs() }
        return value
    } catch let error as DeploymentError {
        await deployment.stop()
        throw error
    } catch let error as ExpectationFailedError {
        await deployment.stop()
        throw error
    } catch {
        let logs = deployment.diagnostics()
        await deployment.stop()
        throw DeploymentError(description: "\(error)\n\(logs)")
    }
}
