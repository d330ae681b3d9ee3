import BatonCore
import BatonRuntime
import BatonStore
import Foundation
import RedisClient

/// Real `baton-scheduler` and `baton-agent` processes on a fresh namespace of the bench's Redis,
/// plus what the engine workloads measure with: Redis `INFO` deltas and tree completion.
final class EngineRig: Sendable {
    let namespace: String
    let store: BatonStore
    private let children: [ChildProcess]
    private let logDirectory: String

    /// Starts the processes (release binaries next to this one, built first if missing).
    static func start(
        _ context: BenchContext, agents: Int = 2, concurrency: Int = 64, schedulers: Int = 1,
        executors: String = "echo_executor", environment extra: [String: String] = [:]
    ) async throws -> EngineRig {
        let namespace = "bench-\(UUID().uuidString.prefix(8).lowercased())"
        let binaries = ChildProcess.binaryDirectory
        try ensureBuilt(["baton-scheduler", "baton-agent"], in: binaries)
        let logs = NSTemporaryDirectory() + namespace
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let types = executors.split(separator: ",").map(String.init)
        let queueShards = context.queueShards > 1 ? Dictionary(uniqueKeysWithValues: types.map { ($0, context.queueShards) }) : [:]
        var environment = ["BATON_REDIS_URL": context.redisURL, "BATON_NAMESPACE": namespace, "BATON_LOG_LEVEL": "warning"]
        if !queueShards.isEmpty {
            environment["BATON_EXECUTORS_QUEUE_SHARDS"] = queueShards.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        }
        if context.admission {
            // The schedulers publish the same admission the throughput workload does (every 5 s).
            environment["BATON_EXECUTORS_MAX_RUNNING_PER_KEY"] = "echo_executor=\(BenchAdmission.perKey)"
            environment["BATON_FAIRNESS_WEIGHTS"] = BenchAdmission.weights.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ",")
        }
        environment.merge(extra) { $1 }
        var children: [ChildProcess] = []
        for index in 0..<schedulers {
            children.append(try ChildProcess(
                name: "baton-scheduler", executable: "\(binaries)/baton-scheduler", arguments: [],
                environment: environment, logPath: "\(logs)/scheduler-\(index).log"))
        }
        for index in 0..<agents {
            children.append(try ChildProcess(
                name: "baton-agent", executable: "\(binaries)/baton-agent",
                arguments: ["--executor", executors, "--concurrency", String(concurrency)],
                environment: environment, logPath: "\(logs)/agent-\(index).log"))
        }
        let redis = RedisClient(configuration: try RedisConfiguration(url: context.redisURL), poolSize: 2)
        let store = BatonStore(redis: redis, keys: Keys(namespace: namespace, queueShards: queueShards))
        try await Task.sleep(for: .milliseconds(300))  // let the processes connect and block on their queues
        return EngineRig(namespace: namespace, store: store, children: children, logDirectory: logs)
    }

    private init(namespace: String, store: BatonStore, children: [ChildProcess], logDirectory: String) {
        self.namespace = namespace
        self.store = store
        self.children = children
        self.logDirectory = logDirectory
    }

    /// Stops the processes and deletes the namespace's keys.
    func stop() async {
        for child in children { await child.stop(grace: .seconds(3)) }
        var cursor = "0"
        repeat {
            guard let reply = try? await store.redis.send("SCAN", cursor, "MATCH", "\(namespace):*", "COUNT", "10000"),
                  let parts = reply.array, parts.count == 2 else { break }
            cursor = parts[0].string ?? "0"
            let keys = (parts[1].array ?? []).compactMap(\.string)
            if !keys.isEmpty { _ = try? await store.redis.send(RedisCommand(["UNLINK"] + keys)) }
        } while cursor != "0"
        try? FileManager.default.removeItem(atPath: logDirectory)
        store.redis.close()
    }

    // MARK: Measuring

    /// Counters read from `INFO`, summed over every master (one for a standalone server), and
    /// per master.
    struct RedisStats {
        var commands: Double = 0
        var cpuSeconds: Double = 0
        var usedMemory: Double = 0
        var keys: Double = 0
        /// The same counters of each master, by `host:port`.
        var byNode: [String: RedisStats] = [:]
    }

    func redisStats() async throws -> RedisStats {
        var total = RedisStats()
        for (node, reply) in try await store.redis.sendToEveryMaster(RedisCommand("INFO", "all")) {
            var values: [String: Double] = [:]
            for line in (reply.string ?? "").split(whereSeparator: \.isNewline) {
                let parts = line.split(separator: ":", maxSplits: 1)
                guard parts.count == 2 else { continue }
                if let value = Double(parts[1].trimmingCharacters(in: .whitespaces)) {
                    values[String(parts[0])] = value
                } else if parts[0] == "db0", let keys = parts[1].split(separator: ",").first?.split(separator: "=").last {
                    values["keys"] = Double(keys)  // db0:keys=N,expires=…
                }
            }
            let stats = RedisStats(
                commands: values["total_commands_processed"] ?? 0,
                cpuSeconds: (values["used_cpu_sys"] ?? 0) + (values["used_cpu_user"] ?? 0),
                usedMemory: values["used_memory"] ?? 0, keys: values["keys"] ?? 0)
            total.commands += stats.commands
            total.cpuSeconds += stats.cpuSeconds
            total.usedMemory += stats.usedMemory
            total.keys += stats.keys
            total.byNode[node] = stats
        }
        return total
    }

    /// Starts recording every command that runs 1 ms or longer (`SLOWLOG`, on every master).
    func startSlowLog() async throws {
        _ = try await store.redis.sendToEveryMaster(RedisCommand("CONFIG", "SET", "slowlog-log-slower-than", "1000"))
        _ = try await store.redis.sendToEveryMaster(RedisCommand("CONFIG", "SET", "slowlog-max-len", "4096"))
        _ = try await store.redis.sendToEveryMaster(RedisCommand("SLOWLOG", "RESET"))
    }

    /// The longest command since ``startSlowLog()``, in ms, and its name: how long Redis itself
    /// made every other client wait at most (the probe's `stall_ms` adds this host's scheduling).
    func longestCommand() async throws -> (milliseconds: Double, command: String) {
        var longest = (milliseconds: 0.0, command: "")
        for (_, reply) in try await store.redis.sendToEveryMaster(RedisCommand("SLOWLOG", "GET", "4096")) {
            for entry in reply.array ?? [] {
                guard let fields = entry.array, fields.count > 3, let micros = fields[2].int else { continue }
                if Double(micros) / 1000 > longest.milliseconds {
                    let words = (fields[3].array ?? []).prefix(4).compactMap(\.string)
                    longest = (Double(micros) / 1000, words.joined(separator: " "))
                }
            }
        }
        return longest
    }

    /// Waits until every tree finished, polling their status in one pipeline every few ms.
    /// Returns the commands it sent, so they can be left out of the per-task figures.
    func waitForTrees(_ treeIDs: [String], timeout: Duration = .seconds(600)) async throws -> Int {
        var pending = treeIDs
        var sent = 0
        let deadline = ContinuousClock.now + timeout
        while !pending.isEmpty {
            let replies = try await store.redis.pipeline(pending.map { RedisCommand("HGET", store.keys.tree($0), "status") })
            sent += pending.count
            pending = zip(pending, replies).filter { !["completed", "failed", "cancelled"].contains($0.1.string ?? "") }.map(\.0)
            if pending.isEmpty { break }
            if ContinuousClock.now > deadline {
                throw BenchError("\(pending.count) trees did not finish in time; logs in \(logDirectory)")
            }
            try await Task.sleep(for: .milliseconds(2))
        }
        return sent
    }

    /// The tree records (created_at / finished_at give Redis-side wall times).
    func treeRecords(_ treeIDs: [String]) async throws -> [TreeRecord] {
        var records: [TreeRecord] = []
        for id in treeIDs { records.append(try await store.treeRecord(id, userID: nil)) }
        return records
    }

    /// Builds missing executables in release mode (the bench starts them as processes).
    private static func ensureBuilt(_ products: [String], in directory: String) throws {
        for product in products where !FileManager.default.isExecutableFile(atPath: "\(directory)/\(product)") {
            BenchLog.info("building \(product) (release)")
            let build = Process()
            build.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            build.arguments = ["swift", "build", "-c", "release", "--product", product]
            try build.run()
            build.waitUntilExit()
            guard build.terminationStatus == 0 else { throw BenchError("swift build of \(product) failed") }
        }
    }
}

extension BenchReport {
    /// Fills the per-task Redis figures from `INFO` deltas, leaving out the bench's own commands.
    mutating func redisFigures(before: EngineRig.RedisStats, after: EngineRig.RedisStats, tasks: Int, ownCommands: Int) {
        let count = Double(max(tasks, 1))
        redisCommandsPerTask = (after.commands - before.commands - Double(ownCommands)) / count
        redisCPUMicrosecondsPerTask = (after.cpuSeconds - before.cpuSeconds) * 1e6 / count
        redisBytesPerTask = (after.usedMemory - before.usedMemory) / count
        guard after.byNode.count > 1 else { return }
        // On a cluster: how evenly the work and the keys spread over the masters (max / mean).
        let nodes = after.byNode.keys.sorted()
        func spread(_ value: (EngineRig.RedisStats) -> Double) -> Double? {
            let values = nodes.map { node in value(after.byNode[node]!) - (before.byNode[node].map(value) ?? 0) }
            let mean = values.reduce(0, +) / Double(values.count)
            return mean > 0 ? (values.max() ?? 0) / mean : nil
        }
        extra += [("masters", Double(nodes.count)), ("redis_cpu_spread_max_over_mean", spread(\.cpuSeconds)),
                  ("redis_cmds_spread_max_over_mean", spread(\.commands)), ("keys_spread_max_over_mean", spread(\.keys))]
        for (index, node) in nodes.enumerated() {
            let cpu = after.byNode[node]!.cpuSeconds - (before.byNode[node]?.cpuSeconds ?? 0)
            extra.append(("redis_cpu_us_per_task_master_\(index + 1)", cpu * 1e6 / count))
        }
        let busiest = nodes.map { after.byNode[$0]!.commands - (before.byNode[$0]?.commands ?? 0) }.max() ?? 0
        extra.append(("redis_cmds_per_task_busiest_master", busiest / count))
    }
}
