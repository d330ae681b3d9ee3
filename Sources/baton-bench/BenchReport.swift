import Foundation

/// One workload's result: the keys every workload shares (the project's bench schema; `nil`
/// where they do not apply, printed as `null`) followed by the workload's own keys.
struct BenchReport: Sendable {
    var workload: String
    /// Tasks run to completion.
    var tasks: Int?
    /// Wall-clock seconds of the whole workload.
    var wallSeconds: Double?
    var tasksPerSecond: Double?
    /// Mean time per task step, in milliseconds.
    var perStepMilliseconds: Double?
    var p50Milliseconds: Double?
    var p99Milliseconds: Double?
    var redisCommandsPerTask: Double?
    var redisCPUMicrosecondsPerTask: Double?
    var redisBytesPerTask: Double?
    /// The workload's own figures, in the order they are printed.
    var extra: [(key: String, value: Double?)] = []
    /// The workload's text figures, printed after the numbers.
    var notes: [(key: String, value: String)] = []

    init(workload: String) {
        self.workload = workload
    }

    /// The report as one line of JSON, keys in a stable order.
    var jsonLine: String {
        var fields: [(String, String)] = [("workload", Self.quoted(workload))]
        let common: [(String, Double?)] = [
            ("tasks", tasks.map(Double.init)),
            ("wall_s", wallSeconds),
            ("tasks_per_s", tasksPerSecond),
            ("per_step_ms", perStepMilliseconds),
            ("p50_ms", p50Milliseconds),
            ("p99_ms", p99Milliseconds),
            ("redis_cmds_per_task", redisCommandsPerTask),
            ("redis_cpu_us_per_task", redisCPUMicrosecondsPerTask),
            ("redis_bytes_per_task", redisBytesPerTask),
        ]
        for (key, value) in common + extra.map({ ($0.key, $0.value) }) {
            fields.append((key, Self.number(value)))
        }
        for (key, value) in notes { fields.append((key, Self.quoted(value))) }
        return "{" + fields.map { "\(Self.quoted($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
    }

    /// Prints the report's JSON line on stdout, at once.
    static func emit(_ report: BenchReport) {
        FileHandle.standardOutput.write(Data((report.jsonLine + "\n").utf8))
    }

    private static func number(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "null" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        if abs(value) >= 100 { return String(Int(value.rounded())) }
        return String(format: "%.4g", value)
    }

    private static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case _ where scalar.value < 0x20: result += String(format: "\\u%04x", scalar.value)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
