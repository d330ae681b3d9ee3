import Foundation

/// One benchmark workload. Add a workload by writing a type in a file of its own and listing it
/// in ``Workloads/all``.
protocol Workload: Sendable {
    /// The name given on the command line, also the `workload` key of its JSON line.
    var name: String { get }
    /// One line for `--help`.
    var summary: String { get }
    /// Runs the workload and returns its figures.
    func run(_ context: BenchContext) async throws -> BenchReport
}

/// Every workload `baton-bench` knows.
enum Workloads {
    static let all: [any Workload] = [
        RedisWorkload(),
        ThroughputWorkload(),
        FanInWorkload(),
        FanOutWorkload(),
        ChainWorkload(),
        LatencyWorkload(),
        BigTreeWorkload(),
        CopyWorkload(),
        GatewayWorkload(),
        SoakWorkload(),
        WaitingWorkload(),
    ]
}

/// What every workload gets: where Redis is and how thoroughly to measure.
struct BenchContext: Sendable {
    /// The Redis to run against (a throwaway one unless the user gave one).
    let redisURL: String
    /// Rounds per measurement; workloads report the median round.
    let rounds: Int
    /// `executors.<type>.queue_shards` of the executor types the engine workloads run (`--queue-shards`).
    var queueShards = 1
    /// Overrides of the engine workloads' process counts and agent concurrency
    /// (`--agents`, `--concurrency`, `--schedulers`); `nil`: the workload's own.
    var agents: Int?
    var concurrency: Int?
    var schedulers: Int?
    /// The size of a workload that takes one (`--tasks`: bigtree).
    var tasks: Int?
    /// Whether throughput runs with a per-key limit and fairness weights published (`--admission`).
    var admission = false

    /// Runs `measure` `rounds` times and returns the median result. Each round is logged with
    /// the CPU time this process spent on it.
    func median(_ what: String, _ measure: () async throws -> Double) async throws -> Double {
        var results: [Double] = []
        for round in 1...rounds {
            let cpuBefore = Self.processCPUSeconds()
            let value = try await measure()
            let cpu = Self.processCPUSeconds() - cpuBefore
            BenchLog.info("  \(what) round \(round)/\(rounds): \(BenchLog.format(value)) (this process: \(BenchLog.format(cpu * 1000)) ms CPU)")
            results.append(value)
        }
        return results.sorted()[results.count / 2]
    }

    /// User plus system CPU time of this process so far.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}

/// Progress messages, on stderr so stdout holds nothing but the JSON lines.
enum BenchLog {
    static func info(_ message: String) {
        FileHandle.standardError.write(Data("baton-bench: \(message)\n".utf8))
    }

    static func format(_ value: Double) -> String {
        value >= 100 ? String(Int(value.rounded())) : String(format: "%.3f", value)
    }
}
