import BatonCore
import Synchronization

/// Runs tasks of one executor type. Implement it for your own work and register it with the
/// agent (`ExecutorRegistry`); the agent gives it the task's merged inputs and a context.
///
/// ```swift
/// struct Greet: Executor {
///     let name = "greet_executor"
///     func execute(inputs: JSONValue, context: ExecutionContext) async throws -> JSONValue {
///         .string("hello \(inputs["who"]?.stringValue ?? "world")")
///     }
/// }
/// ```
public protocol Executor: Sendable {
    /// The executor type tasks name in `executor` (or `params.executor_id`, `schemas.method`, `name`).
    var name: String { get }

    /// Runs one attempt. Return the result; throw to fail the task (throw ``ExecutorFailure`` to
    /// keep a partial result). Long work should call `context.checkCancellation()` or watch
    /// `context.isCancelled` now and then: that is how a cancel request stops it.
    func execute(inputs: JSONValue, context: ExecutionContext) async throws -> JSONValue

    /// True for an executor that computes its result from its inputs at once, never waiting on
    /// anything (`echo_executor`, `fail_executor`, `aggregate_results_executor`): the agent then
    /// calls it in place, without a task of its own, a timer or a cancellation watch — two
    /// thread hops fewer per task. Default `false`.
    var runsInline: Bool { get }
}

extension Executor {
    public var runsInline: Bool { false }
}

/// A failure that carries a message and, optionally, the part of the result already produced.
public struct ExecutorFailure: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var partialResult: JSONValue?

    public init(_ message: String, partialResult: JSONValue? = nil) {
        self.message = message
        self.partialResult = partialResult
    }

    public var description: String { message }
}

/// What an executor knows about the attempt it runs, and how it talks back.
public struct ExecutionContext: Sendable {
    public var taskID: String
    public var treeID: String
    public var name: String
    /// The attempt number of this claim (1 for the first run).
    public var attempt: Int
    /// The task's `params` (executor settings).
    public var params: JSONValue
    /// The task's `schemas`.
    public var schemas: JSONValue
    /// `timeout_s` of the task, if set (more than 0, at most 604800); the agent enforces it.
    public var timeoutSeconds: Double?

    let cancellation: CancellationFlag
    let progressSink: @Sendable (Double) async -> Void
    /// Told about each progress value ``reportProgress(_:)`` dropped (the agent logs them).
    var invalidProgress: @Sendable (Double) -> Void = { _ in }

    public init(
        taskID: String, treeID: String, name: String, attempt: Int,
        params: JSONValue = .emptyObject, schemas: JSONValue = .emptyObject, timeoutSeconds: Double? = nil,
        cancellation: CancellationFlag = CancellationFlag(),
        progress: @escaping @Sendable (Double) async -> Void = { _ in }
    ) {
        self.taskID = taskID
        self.treeID = treeID
        self.name = name
        self.attempt = attempt
        self.params = params
        self.schemas = schemas
        self.timeoutSeconds = timeoutSeconds
        self.cancellation = cancellation
        self.progressSink = progress
    }

    /// Reports progress between 0 and 1 (streamed to watchers as a `progress` event).
    ///
    /// A value that is not a finite number in `0…1` is dropped, not clamped: the agent logs it
    /// (`dropping an invalid progress report`) and watchers see nothing; the attempt goes on.
    public func reportProgress(_ value: Double) async {
        guard value.isFinite, (0...1).contains(value) else {
            invalidProgress(value)
            return
        }
        await progressSink(value)
    }

    /// True once cancellation was requested for this task (or the Swift task was cancelled).
    public var isCancelled: Bool { cancellation.isSet || Task.isCancelled }

    /// Throws `CancellationError` once cancellation was requested.
    public func checkCancellation() throws {
        if isCancelled { throw CancellationError() }
    }
}

/// A flag set once when cancellation of a running task is requested.
public final class CancellationFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    public init() {}

    /// Whether cancellation was requested.
    public var isSet: Bool { flag.load(ordering: .acquiring) }

    /// Requests cancellation.
    public func set() { flag.store(true, ordering: .releasing) }
}

/// The executors an agent can run, by name.
public struct ExecutorRegistry: Sendable {
    private var executors: [String: any Executor] = [:]

    public init(_ executors: [any Executor] = []) {
        for executor in executors { register(executor) }
    }

    /// Adds (or replaces) an executor.
    public mutating func register(_ executor: any Executor) {
        executors[executor.name] = executor
    }

    /// The executor of a type, if registered.
    public subscript(name: String) -> (any Executor)? { executors[name] }

    /// Every registered type.
    public var names: [String] { executors.keys.sorted() }
}
