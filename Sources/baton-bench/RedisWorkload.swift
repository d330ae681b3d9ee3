import Foundation
import RedisClient

/// `redis`: the raw speed of `RedisClient` next to `redis-benchmark`, on the same Redis in the
/// same run.
///
/// - single: 100,000 PINGs sent by 50 concurrent tasks through one `RedisClient` (each command
///   its own `send`; the connections pipeline concurrent callers automatically), against
///   `redis-benchmark -t ping -n 100000` (50 connections);
/// - sequential: one task, 10,000 PINGs one after the other (round-trip latency);
/// - pipeline: 100,000 PINGs as `pipeline` calls of 100 from 50 concurrent tasks, against
///   `redis-benchmark -t ping -n 100000 -P 100`.
struct RedisWorkload: Workload {
    let name = "redis"
    let summary = "RedisClient round trips and pipelines against redis-benchmark"

    static let concurrentTasks = 50
    static let singleCommands = 100_000
    static let sequentialCommands = 10_000
    static let pipelineDepth = 100
    static let pipelineCommands = 100_000

    func run(_ context: BenchContext) async throws -> BenchReport {
        let start = ContinuousClock.now
        let configuration = try RedisConfiguration(url: context.redisURL)
        let redis = RedisClient(configuration: configuration)
        defer { redis.close() }

        // Warm up: connections made, code paths touched.
        try await Self.concurrentPings(redis, total: 10_000)

        let single = try await context.median("client single (PING/s)") {
            try await Self.concurrentPings(redis, total: Self.singleCommands)
        }
        var latencies: [Duration] = []
        let sequential = try await context.median("client sequential (PING/s)") {
            let (rate, samples) = try await Self.sequentialPings(redis, total: Self.sequentialCommands)
            latencies = samples
            return rate
        }
        let pipeline = try await context.median("client pipeline (PING/s)") {
            try await Self.pipelinedPings(redis, total: Self.pipelineCommands, depth: Self.pipelineDepth)
        }

        let benchmark = RedisBenchmarkTool(endpoint: configuration.endpoint, password: configuration.password)
        var benchmarkSingle: Double?
        var benchmarkPipeline: Double?
        if benchmark.isAvailable {
            benchmarkSingle = try await context.median("redis-benchmark single (PING_MBULK/s)") {
                try benchmark.pingRate(requests: Self.singleCommands, clients: Self.concurrentTasks, pipeline: 1)
            }
            benchmarkPipeline = try await context.median("redis-benchmark -P \(Self.pipelineDepth) (PING_MBULK/s)") {
                try benchmark.pingRate(
                    requests: Self.pipelineCommands, clients: Self.concurrentTasks, pipeline: Self.pipelineDepth)
            }
        } else {
            BenchLog.info("redis-benchmark not found on PATH: its figures are null")
        }

        let sorted = latencies.sorted()
        func percentile(_ p: Double) -> Double? {
            guard !sorted.isEmpty else { return nil }
            let index = min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)
            return Double(sorted[max(0, index)].nanoseconds) / 1000
        }

        var report = BenchReport(workload: name)
        report.wallSeconds = (ContinuousClock.now - start).seconds
        report.extra = [
            ("client_single_rps", single),
            ("client_sequential_rps", sequential),
            ("client_pipeline_rps", pipeline),
            ("redis_benchmark_single_rps", benchmarkSingle),
            ("redis_benchmark_pipeline_rps", benchmarkPipeline),
            ("single_ratio", benchmarkSingle.map { single / $0 }),
            ("pipeline_ratio", benchmarkPipeline.map { pipeline / $0 }),
            ("client_sequential_p50_us", percentile(0.50)),
            ("client_sequential_p99_us", percentile(0.99)),
        ]
        return report
    }

    /// `total` PINGs from ``concurrentTasks`` tasks, one `send` each; returns commands per second.
    @discardableResult
    static func concurrentPings(_ redis: RedisClient, total: Int) async throws -> Double {
        let perTask = total / concurrentTasks
        let ping = RedisCommand("PING")
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrentTasks {
                group.addTask {
                    for _ in 0..<perTask { try await redis.send(ping) }
                }
            }
            try await group.waitForAll()
        }
        return Double(perTask * concurrentTasks) / (ContinuousClock.now - start).seconds
    }

    /// `total` PINGs one after the other; returns commands per second and every round trip.
    static func sequentialPings(_ redis: RedisClient, total: Int) async throws -> (Double, [Duration]) {
        let ping = RedisCommand("PING")
        var samples: [Duration] = []
        samples.reserveCapacity(total)
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<total {
            let sent = clock.now
            try await redis.send(ping)
            samples.append(clock.now - sent)
        }
        return (Double(total) / (clock.now - start).seconds, samples)
    }

    /// `total` PINGs as pipelines of `depth` from ``concurrentTasks`` tasks; returns commands per second.
    static func pipelinedPings(_ redis: RedisClient, total: Int, depth: Int) async throws -> Double {
        let pipelinesPerTask = total / depth / concurrentTasks
        let batch = [RedisCommand](repeating: RedisCommand("PING"), count: depth)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrentTasks {
                group.addTask {
                    for _ in 0..<pipelinesPerTask {
                        let replies = try await redis.pipeline(batch)
                        guard replies.count == depth, replies.last == .status("PONG") else {
                            throw BenchError("unexpected pipeline replies: \(replies.prefix(3))")
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        return Double(pipelinesPerTask * concurrentTasks * depth) / (ContinuousClock.now - start).seconds
    }
}

/// `redis-benchmark`, run as a subprocess for comparison figures.
struct RedisBenchmarkTool: Sendable {
    let endpoint: RedisConfiguration.Endpoint
    let password: String?

    var isAvailable: Bool { Self.executable != nil }

    private static let executable: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/redis-benchmark" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// Runs `redis-benchmark -t ping -q` and returns PING_MBULK requests per second.
    func pingRate(requests: Int, clients: Int, pipeline: Int) throws -> Double {
        guard let executable = Self.executable else { throw BenchError("redis-benchmark not found") }
        var arguments: [String]
        switch endpoint {
        case .tcp(let host, let port): arguments = ["-h", host, "-p", String(port)]
        case .unix(let path): arguments = ["-s", path]
        }
        if let password { arguments += ["-a", password] }
        arguments += ["-t", "ping", "-n", String(requests), "-c", String(clients), "-P", String(pipeline), "-q"]

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0, let rate = Self.parsePingMultiBulk(text) else {
            throw BenchError("redis-benchmark \(arguments.joined(separator: " ")) failed: \(text)")
        }
        return rate
    }

    /// The requests per second of the `PING_MBULK` line of `redis-benchmark -q` output, e.g.
    /// `PING_MBULK: 98039.22 requests per second, p50=0.263 msec`.
    static func parsePingMultiBulk(_ output: String) -> Double? {
        for line in output.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            guard let range = line.range(of: "PING_MBULK:") else { continue }
            let rest = line[range.upperBound...].drop { $0 == " " }
            if let value = Double(rest.prefix { $0.isNumber || $0 == "." }) { return value }
        }
        return nil
    }
}

extension Duration {
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }

    var nanoseconds: Int64 {
        let parts = components
        return parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000
    }
}
