import BatonCore
import Foundation
import Testing

@testable import BatonAgent

@Suite("system_info_executor")
struct SystemInfoExecutorTests {
    private func run(_ inputs: JSONValue) async throws -> JSONValue {
        try await SystemInfoExecutor().execute(inputs: inputs, context: executorTestContext())
    }

    @Test func cpuHasRealFigures() async throws {
        let result = try await run(["resource": "cpu"])
        #expect(result.objectValue?.keys.sorted() == ["cpu"])
        let cpu = try #require(result["cpu"])
        let cores = try #require(cpu["cores"]?.intValue)
        #expect(cores >= 1)
        #expect(cores == ProcessInfo.processInfo.processorCount)
        #expect((cpu["available_cores"]?.intValue ?? 0) >= 1)
        #expect(cpu["model"]?.stringValue?.isEmpty == false)
        for window in ["1m", "5m", "15m"] {
            #expect((cpu["load_average"]?[window]?.doubleValue ?? -1) >= 0)
        }
    }

    @Test func memoryHasRealFigures() async throws {
        let memory = try #require(try await run(["resource": "memory"])["memory"])
        let total = try #require(memory["total_bytes"]?.intValue)
        let available = try #require(memory["available_bytes"]?.intValue)
        let used = try #require(memory["used_bytes"]?.intValue)
        let percent = try #require(memory["percent"]?.doubleValue)
        #expect(total > 64 << 20)
        #expect(available > 0 && available <= total)
        #expect(used + available == total)
        #expect(percent > 0 && percent <= 100)
    }

    @Test func diskHasRealFigures() async throws {
        let disk = try #require(try await run(["resource": "disk"])["disk"])
        let total = try #require(disk["total_bytes"]?.intValue)
        let free = try #require(disk["free_bytes"]?.intValue)
        let used = try #require(disk["used_bytes"]?.intValue)
        #expect(disk["path"] == "/")
        #expect(total > 0)
        #expect(free >= 0 && free <= total)
        #expect(used >= 0 && used <= total)
        #expect((disk["percent"]?.doubleValue).map { $0 >= 0 && $0 <= 100 } == true)
    }

    @Test func osHasRealFigures() async throws {
        let os = try #require(try await run(["resource": "os"])["os"])
        #expect(os["system"] == "Linux")
        #expect(os["release"]?.stringValue?.isEmpty == false)
        #expect(os["version"]?.stringValue?.isEmpty == false)
        #expect(os["machine"]?.stringValue?.isEmpty == false)
        #expect(os["hostname"]?.stringValue == ProcessInfo.processInfo.hostName)
        #expect((os["uptime_s"]?.doubleValue ?? 0) > 0)
    }

    @Test func allIsTheDefault() async throws {
        let result = try await run(.emptyObject)
        #expect(result.objectValue?.keys.sorted() == ["cpu", "disk", "memory", "os"])
        let explicit = try await run(["resource": "all"])
        #expect(explicit.objectValue?.keys.sorted() == ["cpu", "disk", "memory", "os"])
    }

    @Test(arguments: [JSONValue.string("gpu"), .int(3), .string("")])
    func unknownResourceIsRefused(_ resource: JSONValue) async {
        let failure = await expectExecutorFailure(SystemInfoExecutor(), ["resource": resource])
        #expect(failure?.message == "inputs.resource must be one of cpu, memory, disk, os, all")
    }
}
