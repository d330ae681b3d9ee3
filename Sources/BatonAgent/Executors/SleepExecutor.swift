import BatonCore

/// `sleep_executor`: sleeps `inputs.seconds` (default 1; between 0 and 604800, 7 days) and returns `{"slept_s": x}`, the time
/// actually slept, rounded to the millisecond.
///
/// It is cooperative: it sleeps in steps of at most 50 ms, checks for cancellation between steps
/// and, when cancelled, throws `ExecutorFailure("cancelled", partialResult: {"slept_s": x})`.
/// For sleeps of a second or more it reports progress about every 10 %.
/// With `inputs.ignore_cancel: true` it ignores cancellation and sleeps to the end (to test the
/// agent's handling of executors that do not stop).
public struct SleepExecutor: Executor {
    /// `sleep_executor`.
    public let name = "sleep_executor"

    /// The longest single sleep between two cancellation checks.
    static let step: Duration = .milliseconds(50)

    /// Creates the executor.
    public init() {}

    /// Sleeps as described on the type.
    public func execute(inputs: JSONValue, context: ExecutionContext) async throws -> JSONValue {
        let reader = try ExecutorInputs(inputs)
        let seconds = try reader.duration("seconds", upTo: ExecutorSupport.maxSeconds) ?? 1
        let ignoreCancel = try reader.bool("ignore_cancel") ?? false

        let clock = ContinuousClock()
        let start = clock.now
        let total = ExecutorSupport.duration(seconds: seconds)
        let reportsProgress = seconds >= 1
        var nextReport = 0.1

        while true {
            let elapsed = start.duration(to: clock.now)
            if !ignoreCancel && context.isCancelled {
                throw ExecutorFailure("cancelled", partialResult: ["slept_s": .double(ExecutorSupport.roundedSeconds(elapsed))])
            }
            if reportsProgress {
                let fraction = elapsed / total
                if fraction >= nextReport {
                    await context.reportProgress(min(1, (fraction * 10).rounded(.down) / 10))
                    nextReport = (fraction * 10).rounded(.down) / 10 + 0.1
                }
            }
            if elapsed >= total { break }
            let pause = min(Self.step, total - elapsed)
            if ignoreCancel {
                await ExecutorSupport.uncancellableSleep(seconds: ExecutorSupport.seconds(pause))
            } else {
                try? await Task.sleep(for: pause)
            }
        }
        return ["slept_s": .double(ExecutorSupport.roundedSeconds(start.duration(to: clock.now)))]
    }
}
