import BatonCore
import BatonStore
import Synchronization

extension Agent {
    /// Runs one attempt and reports its outcome (unless the attempt was abandoned).
    func execute(_ control: TaskControl, reporter: Reporter) async {
        let task = control.task
        guard let executor = registry[task.executor] else {
            reporter.send(.failed(task, error: "No executor '\(task.executor)' is registered on this agent"))
            return
        }
        let context = ExecutionContext(
            taskID: task.taskID, treeID: task.treeID, name: task.name, attempt: task.attempt,
            params: task.params, schemas: task.schemas, timeoutSeconds: task.timeoutSeconds,
            cancellation: control.cancellation,
            progress: { value in
                if !control.abandoned.isSet { reporter.send(.progress(task, value)) }
            })
        let outcome = await Self.race(executor, inputs: task.inputs, context: context, control: control)
        if control.abandoned.isSet { return }
        if control.cancelRequested.isSet {
            // Cancelled: keep a partial result the executor gave when it stopped; a result it
            // returned anyway (it ignored the request) is late and discarded.
            var partial: JSONValue?
            if case .failure(let failure as ExecutorFailure) = outcome { partial = failure.partialResult }
            reporter.send(.cancelled(task, partial: partial))
            return
        }
        switch outcome {
        case .success(let result):
            reporter.send(.completed(task, result: result))
        case .failure(let failure as ExecutorFailure):
            reporter.send(.failed(task, error: failure.message, partial: failure.partialResult))
        case .failure(is AttemptTimedOut):
            reporter.send(.failed(task, error: "timeout after \(Self.format(seconds: task.timeoutSeconds ?? 0)) s"))
        case .failure(let error):
            reporter.send(.failed(task, error: String(describing: error)))
        }
    }

    /// Runs the executor, but stops waiting for it when the task's timeout passes or the attempt
    /// is abandoned — even if the executor ignores cancellation (its late result is discarded).
    /// A cancel request cancels the executor's Swift task and keeps waiting for it to return.
    /// Nothing polls: a timer exists only for a task with a timeout, the rest are events.
    static func race(
        _ executor: any Executor, inputs: JSONValue, context: ExecutionContext, control: TaskControl
    ) async -> Result<JSONValue, any Error> {
        let work = Task { try await executor.execute(inputs: inputs, context: context) }
        return await withCheckedContinuation { continuation in
            let outcome = OneShot(continuation)
            let timer = context.timeoutSeconds.map { seconds in
                Task {
                    guard (try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))) != nil else { return }
                    control.cancellation.set()
                    work.cancel()
                    outcome.resume(.failure(AttemptTimedOut()))
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

    static func format(seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
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
