import BatonCore
import Foundation
import Logging
import RedisClient
import Synchronization
import Testing

@testable import BatonAgent
@testable import BatonStore

/// Runs attempts through `Agent.execute` with a real ``Reporter`` on the test Redis (a namespace
/// of its own), and reads back the reports it put on the bus.
private struct AgentHarness {
    let store: BatonStore
    let agent: Agent

    init(_ executors: [any Executor], maxResultBytes: Int = AgentSettings.defaultMaxResultBytes) throws {
        let endpoint = try testRedisEndpoint()
        let redis = RedisClient(configuration: RedisConfiguration(endpoint: .tcp(host: endpoint.host, port: endpoint.port)))
        store = BatonStore(redis: redis, keys: Keys(namespace: "agent-test-\(UUID().uuidString)"))
        agent = Agent(
            store: store, registry: ExecutorRegistry(executors),
            settings: AgentSettings(executorTypes: executors.map(\.name), maxResultBytes: maxResultBytes),
            logger: Logger(label: "baton.agent.test"))
    }

    /// One attempt of a task of `executor`; `prepare` can act on its control first (cancel it).
    func run(
        _ executor: String, inputs: JSONValue = .emptyObject, timeout: Double? = nil, problem: String? = nil,
        prepare: (TaskControl) -> Void = { _ in }
    ) async throws -> [SentReport] {
        let task = StartedTask(
            treeID: "tree-1", taskID: "task-1", attempt: 1, executor: executor, name: "task-1", inputs: inputs,
            params: .emptyObject, schemas: .emptyObject, timeoutSeconds: timeout, problem: problem)
        let control = TaskControl(task: task, queue: ExecutorQueue(executor: task.executor))
        prepare(control)
        let reporter = Reporter(store: store, logger: agent.logger)
        let sending = Task { await reporter.run() }
        if let report = await agent.execute(control, reporter: reporter) { reporter.send(report) }
        reporter.finish()
        await sending.value

        // One task: all its reports are on its tree's shard.
        let stream = store.keys.reports(ofTree: control.task.treeID)
        let entries = try await store.redis.send("XRANGE", stream, "-", "+").array ?? []
        _ = try await store.redis.send("DEL", stream)
        var reports: [SentReport] = []
        for entry in entries {
            let fields = (entry.array?.last?.array ?? []).map { $0.string ?? "" }
            for start in stride(from: 0, to: fields.count - 11, by: 12) {
                let group = Dictionary(uniqueKeysWithValues: stride(from: start, to: start + 12, by: 2).map { (fields[$0], fields[$0 + 1]) })
                reports.append(SentReport(kind: group["kind"] ?? "", data: group["data"] ?? "", extra: group["extra"] ?? ""))
            }
        }
        return reports
    }
}

/// One report as it reached the bus.
private struct SentReport: Equatable, CustomStringConvertible {
    var kind: String
    var data: String
    var extra: String = ""

    var description: String { "\(kind)(\(data.prefix(200)), extra: \(extra.prefix(200)))" }
}

/// Records whether it ran; returns `inputs.ret`.
private final class RecordingExecutor: Executor {
    let name = "recording_executor"
    private let ran = Atomic<Bool>(false)
    var hasRun: Bool { ran.load(ordering: .acquiring) }

    func execute(inputs: JSONValue, context: ExecutionContext) async throws -> JSONValue {
        ran.store(true, ordering: .releasing)
        return inputs["ret"] ?? .null
    }
}

/// Reports each of `inputs.values` as progress, then returns `"done"`.
private struct ProgressExecutor: Executor {
    let name = "progress_executor"
    let values: [Double]

    func execute(inputs: JSONValue, context: ExecutionContext) async throws -> JSONValue {
        for value in values { await context.reportProgress(value) }
        return "done"
    }
}

/// A JSON value nested `depth` arrays deep (`[[…[1]…]]`).
private func nested(_ depth: Int) -> JSONValue {
    var value: JSONValue = 1
    for _ in 0..<depth { value = .array([value]) }
    return value
}

@Suite("agent: attempts, limits and records that cannot run")
struct AgentExecuteTests {
    @Test func aProblemFailsTheAttemptWithoutRunningTheExecutor() async throws {
        let executor = RecordingExecutor()
        let harness = try AgentHarness([executor])
        let problem = "task record cannot be run: merged inputs cannot be read (nesting deeper than 512 levels)"
        let reports = try await harness.run(executor.name, inputs: ["ret": 1], problem: problem)
        #expect(reports == [SentReport(kind: "failed", data: problem)])
        #expect(!executor.hasRun)
    }

    @Test(arguments: [1e300, -1, 0, 604_800.5, Double.nan, Double.infinity, -Double.infinity])
    func aTimeoutOutOfRangeFailsTheAttemptWithoutACrash(_ seconds: Double) async throws {
        let executor = RecordingExecutor()
        let harness = try AgentHarness([executor])
        let reports = try await harness.run(executor.name, timeout: seconds)
        #expect(reports == [SentReport(kind: "failed", data: "timeout_s '\(seconds)' is outside 0 < timeout_s ≤ 604800 (7 days)")])
        #expect(!executor.hasRun)
    }

    @Test func theTimeoutStopsTheAttempt() async throws {
        let harness = try AgentHarness([SleepExecutor()])
        let clock = ContinuousClock()
        let start = clock.now
        let reports = try await harness.run("sleep_executor", inputs: ["seconds": 30], timeout: 0.3)
        #expect(start.duration(to: clock.now) < .seconds(10))  // vs. 30 s
        #expect(reports.last == SentReport(kind: "failed", data: "timeout after 0.3 s"))
    }

    @Test func aSleepOf1e300SecondsFailsTheAttemptWithoutACrash() async throws {
        let harness = try AgentHarness([SleepExecutor()])
        let reports = try await harness.run("sleep_executor", inputs: ["seconds": 1e300], timeout: 604_800)
        #expect(reports == [SentReport(kind: "failed", data: "inputs.seconds must be between 0 and 604800")])
    }

    @Test func aResultOverMaxResultBytesFailsTheTask() async throws {
        let harness = try AgentHarness([EchoExecutor()])
        // A JSON string of 2 MiB: the text and its two quotes.
        let big = JSONValue.string(String(repeating: "x", count: 2_097_150))
        let reports = try await harness.run("echo_executor", inputs: ["ret": big])
        #expect(reports == [SentReport(kind: "failed", data: "result is 2097152 bytes; agent.max_result_bytes allows 1048576")])
    }

    @Test func aResultOfExactlyMaxResultBytesIsKept() async throws {
        let harness = try AgentHarness([EchoExecutor()], maxResultBytes: 1024)
        let fits = String(repeating: "y", count: 1022)
        #expect(try await harness.run("echo_executor", inputs: ["ret": .string(fits)])
                == [SentReport(kind: "completed", data: "\"\(fits)\"")])
        let over = try await harness.run("echo_executor", inputs: ["ret": .string(fits + "y")])
        #expect(over == [SentReport(kind: "failed", data: "result is 1025 bytes; agent.max_result_bytes allows 1024")])
    }

    @Test func aPartialResultOverTheLimitIsNotKeptAndTheErrorSaysSo() async throws {
        let harness = try AgentHarness([FailExecutor()], maxResultBytes: 100)
        let reports = try await harness.run(
            "fail_executor", inputs: ["message": "boom", "partial": .string(String(repeating: "z", count: 200))])
        #expect(reports == [SentReport(
            kind: "failed", data: "boom (partial result is 202 bytes; agent.max_result_bytes allows 100; it was not kept)")])

        let small = try await harness.run("fail_executor", inputs: ["message": "boom", "partial": ["n": 1]])
        #expect(small == [SentReport(kind: "failed", data: "boom", extra: #"{"n":1}"#)])
    }

    @Test func aCancelledAttemptDropsAPartialResultOverTheLimit() async throws {
        let harness = try AgentHarness([FailExecutor()], maxResultBytes: 100)
        let reports = try await harness.run(
            "fail_executor", inputs: ["message": "stopped", "partial": .string(String(repeating: "z", count: 200))],
            prepare: { $0.requestCancel() })
        #expect(reports == [SentReport(kind: "cancelled", data: "")])
    }

    @Test func aResultNestedTooDeepForItsDependentsFailsTheTask() async throws {
        let harness = try AgentHarness([EchoExecutor()])
        let deepest = try await harness.run("echo_executor", inputs: ["ret": nested(ResultLimits.maxDepth)])
        #expect(deepest.map(\.kind) == ["completed"])
        #expect(try JSONValue(parsing: "{\"dep\":\(deepest[0].data)}") == ["dep": nested(ResultLimits.maxDepth)],
                "a dependent's merged inputs still parse")

        let tooDeep = try await harness.run("echo_executor", inputs: ["ret": nested(ResultLimits.maxDepth + 1)])
        #expect(tooDeep == [SentReport(
            kind: "failed",
            data: "result is nested more than 511 levels deep (dependents receive it one level deeper, and JSON may nest at most 512 levels)")])
    }

    @Test func invalidProgressIsDroppedNotClamped() async throws {
        let executor = ProgressExecutor(values: [-1, 2, .nan, .infinity, -.infinity, 0.5, 1])
        let harness = try AgentHarness([executor])
        let reports = try await harness.run(executor.name)
        #expect(reports == [
            SentReport(kind: "progress", data: "0.5"), SentReport(kind: "progress", data: "1.0"),
            SentReport(kind: "completed", data: "\"done\""),
        ])
    }

    @Test func theContextDropsInvalidProgressForEverySink() async {
        let recorder = ProgressRecorder()
        let context = executorTestContext(progress: recorder.sink)
        for value in [-0.1, 1.5, .nan, 0, 0.25] { await context.reportProgress(value) }
        #expect(recorder.reported == [0, 0.25])
    }

    @Test func aLongErrorMessageIsCutAndSaysSo() async throws {
        let harness = try AgentHarness([FailExecutor()])
        let message = String(repeating: "é", count: 40_000)  // 80,000 bytes
        let reports = try await harness.run("fail_executor", inputs: ["message": .string(message)])
        let data = try #require(reports.first?.data)
        #expect(data.hasSuffix(" … (error message cut: 80000 bytes)"))
        #expect(data.hasPrefix(String(repeating: "é", count: 32_768)))
    }
}
