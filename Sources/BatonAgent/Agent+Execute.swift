import BatonCore
import BatonStore
import Synchronization

extension Agent {
    /// Runs one attempt and returns the report of its outcome (`nil`: the attempt was abandoned;
    /// progress goes to `reporter` as it comes).
    ///
    /// Before the executor runs: a task whose record cannot be used (``StartedTask/problem``) or
    /// whose `timeout_s` is out of range fails at once. After it: a result or partial result that
    /// is too large or nested too deep (``ResultLimits``) fails the attempt instead of being sent.
    func execute(_ control: TaskControl, reporter: Reporter) async -> Report? {
        let task = control.task
        let limits = ResultLimits(maxBytes: settings.maxResultBytes)
        if let problem = task.problem {
            return .failed(task, error: ResultLimits.errorText(problem))
        }
        guard let executor = registry[task.executor] else {
            return .failed(task, error: "No executor '\(task.executor)' is registered on this agent")
        }
        var timeout: Duration?
        if let seconds = task.timeoutSeconds {
            guard TaskRecord.timeoutRange.contains(seconds), let duration = ExecutorSupport.checkedDuration(seconds: seconds) else {
                return .failed(task, error: "timeout_s '\(seconds)' is outside \(TaskRecord.timeoutRangeText)")
            }
            timeout = duration
        }
        var context = ExecutionContext(
            taskID: task.taskID, treeID: task.treeID, name: task.name, attempt: task.attempt,
            params: task.params, schemas: task.schemas, timeoutSeconds: task.timeoutSeconds,
            cancellation: control.cancellation,
            progress: { value in
                if !control.abandoned.isSet { reporter.send(.progress(task, value)) }
            })
        context.invalidProgress = { [logger] value in
            logger.warning("dropping an invalid progress report (must be a number from 0 to 1)",
                           metadata: ["baton.task_id": "\(task.taskID)", "baton.progress": "\(value)"])
        }
        let outcome: Result<JSONValue, any Error>
        if executor.runsInline && timeout == nil {
            do { outcome = .success(try await executor.execute(inputs: task.inputs, context: context)) } catch { outcome = .failure(error) }
        } else {
            outcome = await Self.race(executor, inputs: task.inputs, context: context, timeout: timeout, control: control)
        }
        if control.abandoned.isSet { return nil }
        if control.cancelRequested.isSet {
            // Cancelled: keep a partial result the executor gave when it stopped; a result it
            // returned anyway (it ignored the request) is late and discarded. A partial result
            // over the limits is dropped (and logged): the task ends cancelled either way.
            var partial = ""
            if case .failure(let failure as ExecutorFailure) = outcome, let value = failure.partialResult {
                switch limits.encode(value, as: "partial result") {
                case .success(let text):
                    partial = text
                case .failure(let refused):
                    logger.warning("dropping the partial result of a cancelled attempt",
                                   metadata: ["baton.task_id": "\(task.taskID)", "baton.error": "\(refused.message)"])
                }
            }
            return Report(kind: .cancelled, treeID: task.treeID, taskID: task.taskID, attempt: task.attempt, extra: partial)
        }
        switch outcome {
        case .success(let result):
            switch limits.encode(result, as: "result") {
            case .success(let text):
                return Report(kind: .completed, treeID: task.treeID, taskID: task.taskID, attempt: task.attempt, data: text)
            case .failure(let refused):
                return .failed(task, error: refused.message)
            }
        case .failure(let failure as ExecutorFailure):
            var message = failure.message
            var partial = ""
            if let value = failure.partialResult {
                switch limits.encode(value, as: "partial result") {
                case .success(let text): partial = text
                case .failure(let refused): message += " (\(refused.message); it was not kept)"
                }
            }
            return Report(kind: .failed, treeID: task.treeID, taskID: task.taskID, attempt: task.attempt,
                          data: ResultLimits.errorText(message), extra: partial)
        case .failure(is AttemptTimedOut):
            let seconds = ExecutorSupport.formatSeconds(task.timeoutSeconds ?? 0)
            return .failed(task, error: "timeout after \(seconds) s")
        case .failure(let error):
            return .failed(task, error: ResultLimits.errorText(String(describing: error)))
        }
    }

    /// Runs the executor, but stops waiting for it when `timeout` passes or the attempt is
    /// abandoned — even if the executor ignores cancellation (its late result is discarded).
    /// A cancel request cancels the executor's Swift task and keeps waiting for it to return.
    /// Nothing polls: a timer exists only for a task with a timeout, the rest are events.
    static func race(
        _ executor: any Executor, inputs: JSONValue, context: ExecutionContext, timeout: Duration?,
        control: TaskControl
    ) async -> Result<JSONValue, any Error> {
        let work = Task { try await executor.execute(inputs: inputs, context: context) }
        return await withCheckedContinuation { continuation in
            let outcome = OneShot(continuation)
            let timer = timeout.map { duration in
                Task {
                    guard (try? await Task.sleep(for: duration)) != nil else { return }
                    // The outcome first: cancelled, the executor may return at once (sleep_executor
                    // fails with "cancelled"), and that must not win the race.
                    outcome.resume(.failure(AttemptTimedOut()))
                    control.cancellation.set()
                    work.cancel()
                }
            }
            control.attach(work) { outcome.resume(.failure(CancellationError())) }
            Task {
                let result = await work.result
                timer?.cancel()
                outcome.resume(result)
            }
        }
    }
}

/// The attempt ran past its `timeout_s`.
struct AttemptTimedOut: Error {}

/// A continuation resumed by whichever side finishes first; later calls do nothing.
final class OneShot<Value: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<Value, Never>?>

    init(_ continuation: CheckedContinuation<Value, Never>) {
        self.continuation = Mutex(continuation)
    }

    func resume(_ value: Value) {
        continuation.withLock { pending in
            pending?.resume(returning: value)
            pending = nil
        }
    }
}
