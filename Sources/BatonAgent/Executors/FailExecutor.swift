import BatonCore

/// `fail_executor`: always fails, with `inputs.message` (default `fail_executor failed`) and,
/// when present, `inputs.partial` as the partial result. Used to exercise failure paths.
public struct FailExecutor: Executor {
    /// `fail_executor`.
    public let name = "fail_executor"

    /// The message used when `inputs.message` is absent.
    public static let defaultMessage = "fail_executor failed"

    /// Creates the executor.
    public init() {}

    /// Computes its result at once: the agent runs it in place.
    public var runsInline: Bool { true }

    /// Throws an ``ExecutorFailure``; never returns.
    public func execute(inputs: JSONValue, context: ExecutionContext) async throws -> JSONValue {
        let reader = try ExecutorInputs(inputs)
        let message = try reader.string("message") ?? Self.defaultMessage
        throw ExecutorFailure(message, partialResult: reader.value("partial"))
    }
}
