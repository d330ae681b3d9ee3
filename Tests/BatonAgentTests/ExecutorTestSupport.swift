import BatonCore
import Synchronization
import Testing

@testable import BatonAgent

/// A context for running one executor directly in a test.
func executorTestContext(
    params: JSONValue = .emptyObject,
    cancellation: CancellationFlag = CancellationFlag(),
    progress: @escaping @Sendable (Double) async -> Void = { _ in }
) -> ExecutionContext {
    ExecutionContext(
        taskID: "task-1", treeID: "tree-1", name: "test", attempt: 1,
        params: params, cancellation: cancellation, progress: progress
    )
}

/// Runs an executor that must fail and returns its ``ExecutorFailure`` (recording an issue when
/// it succeeds or throws something else).
func expectExecutorFailure(
    _ executor: any Executor, _ inputs: JSONValue, context: ExecutionContext = executorTestContext(),
    sourceLocation: SourceLocation = #_sourceLocation
) async -> ExecutorFailure? {
    do {
        let result = try await executor.execute(inputs: inputs, context: context)
        Issue.record("expected a failure, got \(result)", sourceLocation: sourceLocation)
    } catch let failure as ExecutorFailure {
        return failure
    } catch {
        Issue.record("expected ExecutorFailure, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// Collects the progress values an executor reports.
final class ProgressRecorder: Sendable {
    private let values = Mutex<[Double]>([])

    var reported: [Double] { values.withLock { $0 } }

    var sink: @Sendable (Double) async -> Void {
        { [self] value in values.withLock { $0.append(value) } }
    }
}

/// Sets `flag` after `seconds`, from another task.
func setFlag(_ flag: CancellationFlag, after seconds: Double) -> Task<Void, Never> {
    Task.detached {
        try? await Task.sleep(for: .seconds(seconds))
        flag.set()
    }
}
