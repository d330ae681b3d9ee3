import BatonCore
import Testing

@testable import BatonAgent

@Suite("sleep_executor")
struct SleepExecutorTests {
    @Test func sleepsAndReportsTheTime() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let result = try await SleepExecutor().execute(inputs: ["seconds": 0.2], context: executorTestContext())
        let elapsed = start.duration(to: clock.now)
        let slept = try #require(result["slept_s"]?.doubleValue)
        #expect(slept >= 0.2 && slept < 5)
        #expect(elapsed >= .milliseconds(200))
    }

    @Test func reportsProgressAboutEveryTenthForLongSleeps() async throws {
        let recorder = ProgressRecorder()
        _ = try await SleepExecutor().execute(
            inputs: ["seconds": 1], context: executorTestContext(progress: recorder.sink))
        let reported = recorder.reported
        #expect(reported.count >= 2 && reported.count <= 11)  // fewer when the machine is loaded
        #expect(reported == reported.sorted())
        #expect(reported.last == 1)
    }

    @Test func shortSleepsReportNoProgress() async throws {
        let recorder = ProgressRecorder()
        _ = try await SleepExecutor().execute(
            inputs: ["seconds": 0.1], context: executorTestContext(progress: recorder.sink))
        #expect(recorder.reported.isEmpty)
    }

    @Test func stopsSoonAfterCancellation() async throws {
        let flag = CancellationFlag()
        let canceller = setFlag(flag, after: 0.2)
        let clock = ContinuousClock()
        let start = clock.now
        let failure = await expectExecutorFailure(
            SleepExecutor(), ["seconds": 10], context: executorTestContext(cancellation: flag))
        await canceller.value
        #expect(start.duration(to: clock.now) < .seconds(6))  // vs. 10 s uncancelled
        #expect(failure?.message == "cancelled")
        let slept = try #require(failure?.partialResult?["slept_s"]?.doubleValue)
        #expect(slept >= 0.15 && slept < 6)
    }

    @Test func stopsWhenTheSwiftTaskIsCancelled() async throws {
        let task = Task {
            try await SleepExecutor().execute(inputs: ["seconds": 10], context: executorTestContext())
        }
        try await Task.sleep(for: .milliseconds(100))
        task.cancel()
        await #expect(throws: ExecutorFailure.self) { try await task.value }
    }

    @Test func ignoreCancelKeepsSleeping() async throws {
        let flag = CancellationFlag()
        flag.set()
        let result = try await SleepExecutor().execute(
            inputs: ["seconds": 0.3, "ignore_cancel": true], context: executorTestContext(cancellation: flag))
        let slept = try #require(result["slept_s"]?.doubleValue)
        #expect(slept >= 0.3)
    }

    @Test func ignoreCancelSurvivesSwiftTaskCancellation() async throws {
        let task = Task {
            try await SleepExecutor().execute(
                inputs: ["seconds": 0.3, "ignore_cancel": true], context: executorTestContext())
        }
        task.cancel()
        let slept = try #require(try await task.value["slept_s"]?.doubleValue)
        #expect(slept >= 0.3)
    }

    @Test(arguments: [
        JSONValue.double(1e300), .int(Int.max), .int(-1), .double(-0.5), .double(604_800.001), .double(.nan),
        .double(-.infinity), .string("1"), .string("NaN"), .bool(true),
    ])
    func refusesSecondsOutOfRangeWithoutACrash(_ seconds: JSONValue) async {
        let failure = await expectExecutorFailure(SleepExecutor(), ["seconds": seconds])
        #expect(failure?.message == "inputs.seconds must be between 0 and 604800")
    }

    @Test func zeroSecondsReturnsAtOnce() async throws {
        let result = try await SleepExecutor().execute(inputs: ["seconds": 0], context: executorTestContext())
        #expect((result["slept_s"]?.doubleValue ?? 99) < 1)
    }
}
