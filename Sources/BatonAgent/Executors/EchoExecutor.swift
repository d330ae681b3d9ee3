import BatonCore

/// `echo_executor`: returns `inputs.ret` when present (even `null`), otherwise the whole inputs.
/// Useful to wire trees together in tests and demos.
public struct EchoExecutor: Executor {
    /// `echo_executor`.
    public let name = "echo_executor"

    /// Creates the executor.
    public init() {}

    /// Computes its result at once: the agent runs it in place.
    public var runsInline: Bool { true }

    /// Returns `inputs.ret`, or `inputs` when it has no `ret` key.
    public func execute(inputs: JSONValue, context: ExecutionContext) async throws -> JSONValue {
        if case .object(let members) = inputs, let ret = members["ret"] {
            return ret
        }
        return inputs
    }
}
