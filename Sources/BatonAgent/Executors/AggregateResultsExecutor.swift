import BatonCore

/// `aggregate_results_executor`: the fan-in step of a tree.
///
/// The agent hands an executor the task's merged inputs, in which each dependency's result sits
/// under the dependency's task id. This executor returns that object as its result:
///
/// - without `params.dependency_ids`, the inputs unchanged (every key, including the task's own
///   inputs, is part of the aggregate);
/// - with `params.dependency_ids` (an array of task ids), only those keys, in an object; an id
///   whose result is missing from the inputs is left out.
public struct AggregateResultsExecutor: Executor {
    /// `aggregate_results_executor`.
    public let name = "aggregate_results_executor"

    /// Creates the executor.
    public init() {}

    /// Computes its result at once: the agent runs it in place.
    public var runsInline: Bool { true }

    /// Returns the aggregate described on the type.
    public func execute(inputs: JSONValue, context: ExecutionContext) async throws -> JSONValue {
        guard let selector = context.params["dependency_ids"], !selector.isNull else {
            return inputs
        }
        guard let ids = selector.arrayValue?.compactMap(\.stringValue),
              ids.count == selector.arrayValue?.count else {
            throw ExecutorFailure("params.dependency_ids must be an array of strings")
        }
        let members = try ExecutorInputs(inputs).members
        var aggregate: [String: JSONValue] = [:]
        for id in ids {
            if let result = members[id] { aggregate[id] = result }
        }
        return .object(aggregate)
    }
}
