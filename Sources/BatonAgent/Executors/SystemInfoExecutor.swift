import BatonCore
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `system_info_executor`: real figures of the machine the agent runs on.
///
/// `inputs.resource` is `cpu`, `memory`, `disk`, `os` or `all` (the default). The result has one
/// member per resource asked for:
///
/// ```json
/// {"cpu":    {"cores": 8, "available_cores": 8, "model": "…", "load_average": {"1m": 0.3, "5m": 0.2, "15m": 0.1}},
///  "memory": {"total_bytes": …, "available_bytes": …, "used_bytes": …, "percent": 41.2},
///  "disk":   {"path": "/", "total_bytes": …, "free_bytes": …, "used_bytes": …, "percent": 63.0},
///  "os":     {"system": "Linux", "release": "…", "version": "…", "machine": "x86_64", "hostname": "…", "uptime_s": 8123.4}}
/// ```
///
/// CPU load and memory come from `/proc` (Linux), the disk from `statvfs("/")`, the OS from `uname`.
public struct SystemInfoExecutor: Executor {
    /// `system_info_executor`.
    public let name = "system_info_executor"

    /// What `inputs.resource` may ask for.
    public enum Resource: String, CaseIterable, Sendable {
        case cpu, memory, disk, os, all
    }

    /// Creates the executor.
    public init() {}

    /// Reads the resource(s) named by `inputs.resource`.
    public func execute(inputs: JSONValue, context: ExecutionContext) async throws -> JSONValue {
        let reader = try ExecutorInputs(inputs)
        let resource: Resource
        switch reader.value("resource") {
        case nil:
            resource = .all
        case .string(let text)?:
            guard let known = Resource(rawValue: text) else { throw Self.unknownResource }
            resource = known
        default:
            throw Self.unknownResource
        }

        var result: [String: JSONValue] = [:]
        if resource == .cpu || resource == .all { result["cpu"] = try cpu() }
        if resource == .memory || resource == .all { result["memory"] = try memory() }
        if resource == .disk || resource == .all { result["disk"] = try disk() }
        if resource == .os || resource == .all { result["os"] = os() }
        return .object(result)
    }

    static let unknownResource = ExecutorFailure(
        "inputs.resource must be one of \(Resource.allCases.map(\.rawValue).joined(separator: ", "))"
    )

    // MARK: - Probes

    func cpu() throws -> JSONValue {
        let online = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        let cores = online > 0 ? Int(online) : ProcessInfo.processInfo.processorCount
        var info: [String: JSONValue] = [
            "cores": .int(cores),
            "available_cores": .int(ProcessInfo.processInfo.activeProcessorCount),
            "model": .null,
        ]
        if let cpuinfo = try? Self.readProcFile("/proc/cpuinfo") {
            let keys = ["model name", "Hardware", "Processor", "cpu model"]
            let lines = cpuinfo.split(separator: "\n")
            search: for key in keys {
                for line in lines {
                    let parts = line.split(separator: ":", maxSplits: 1)
                    if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == key {
                        info["model"] = .string(parts[1].trimmingCharacters(in: .whitespaces))
                        break search
                    }
                }
            }
        }
        let loadavg = try Self.readProcFile("/proc/loadavg").split(separator: " ").prefix(3).compactMap { Double($0) }
        guard loadavg.count == 3 else { throw ExecutorFailure("cannot parse /proc/loadavg") }
        info["load_average"] = ["1m": .double(loadavg[0]), "5m": .double(loadavg[1]), "15m": .double(loadavg[2])]
        return .object(info)
    }

    func memory() throws -> JSONValue {
        var kilobytes: [String: Int] = [:]
        for line in try Self.readProcFile("/proc/meminfo").split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2,
                  let number = parts[1].split(separator: " ").first.flatMap({ Int($0) }) else { continue }
            kilobytes[String(parts[0])] = number
        }
        guard let totalKB = kilobytes["MemTotal"], totalKB > 0 else {
            throw ExecutorFailure("cannot parse /proc/meminfo")
        }
        let availableKB = kilobytes["MemAvailable"]
            ?? (kilobytes["MemFree", default: 0] + kilobytes["Buffers", default: 0] + kilobytes["Cached", default: 0])
        let total = totalKB * 1024
        let available = min(availableKB * 1024, total)
        let used = total - available
        return [
            "total_bytes": .int(total),
            "available_bytes": .int(available),
            "used_bytes": .int(used),
            "percent": .double(Self.percent(used, of: total)),
        ]
    }

    func disk(path: String = "/") throws -> JSONValue {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else {
            throw ExecutorFailure("statvfs(\(path)) failed: \(String(cString: strerror(errno)))")
        }
        let blockSize = Int(stats.f_frsize)
        let total = Int(stats.f_blocks) * blockSize
        let free = Int(stats.f_bavail) * blockSize
        let used = (Int(stats.f_blocks) - Int(stats.f_bfree)) * blockSize
        return [
            "path": .string(path),
            "total_bytes": .int(total),
            "free_bytes": .int(free),
            "used_bytes": .int(used),
            // As `df` does: the share of the space usable by ordinary users that is taken.
            "percent": .double(Self.percent(used, of: used + free)),
        ]
    }

    func os() -> JSONValue {
        var names = utsname()
        _ = uname(&names)
        var uptime = ProcessInfo.processInfo.systemUptime
        if let text = try? Self.readProcFile("/proc/uptime"),
           let first = text.split(separator: " ").first, let seconds = Double(first) {
            uptime = seconds
        }
        return [
            "system": .string(Self.text(of: &names.sysname)),
            "release": .string(Self.text(of: &names.release)),
            "version": .string(Self.text(of: &names.version)),
            "machine": .string(Self.text(of: &names.machine)),
            "hostname": .string(ProcessInfo.processInfo.hostName),
            "uptime_s": .double(uptime),
        ]
    }

    // MARK: - Helpers

    /// Reads a small file of `/proc` (whose reported size is 0, so it is read to its end).
    static func readProcFile(_ path: String) throws(ExecutorFailure) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ExecutorFailure("cannot read \(path)")
        }
        defer { try? handle.close() }
        do {
            let data = try handle.readToEnd() ?? Data()
            return String(decoding: data, as: UTF8.self)
        } catch {
            throw ExecutorFailure("cannot read \(path): \(error)")
        }
    }

    /// The text of a fixed-size C character array of `utsname`.
    static func text<T>(of tuple: inout T) -> String {
        withUnsafeBytes(of: &tuple) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// `part / whole` in percent, rounded to one decimal.
    static func percent(_ part: Int, of whole: Int) -> Double {
        guard whole > 0 else { return 0 }
        return (Double(part) / Double(whole) * 1000).rounded() / 10
    }
}
