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
    ]
}

/// What every workload gets: where Redis is and how thoroughly to measure.
struct BenchContext: Sendable {
    /// The Redis to run against (a throwaway one unless the user gave one).
    let redisURL: String
    /// Rounds per measurement; workloads report the median round.
    let rounds: Int

    /// Runs `measure` `rounds` times and returns the median result.
    func median(_ what: String, _ measure: () async throws -> Double) async throws -> Double {
        var results: [Double] = []
        for round in 1...rounds {
            let value = try await measure()
            BenchLog.info("  \(what) round \(round)/\(rounds): \(BenchLog.format(value))")
            results.append(value)
        }
        return results.sorted()[results.count / 2]
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
