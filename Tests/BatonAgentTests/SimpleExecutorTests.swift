import BatonCore
import Testing

@testable import BatonAgent

@Suite("Echo, fail, aggregate and the built-in list")
struct SimpleExecutorTests {
    @Test func echoReturnsRetWhenPresent() async throws {
        let result = try await EchoExecutor().execute(
            inputs: ["ret": ["a": 1], "other": true], context: executorTestContext())
        #expect(result == ["a": 1])
    }

    @Test func echoReturnsNullRet() async throws {
        let result = try await EchoExecutor().execute(inputs: ["ret": nil], context: executorTestContext())
        #expect(result == nil)
    }

    @Test func echoReturnsInputsWithoutRet() async throws {
        let inputs: JSONValue = ["x": 1, "y": ["z"]]
        let result = try await EchoExecutor().execute(inputs: inputs, context: executorTestContext())
        #expect(result == inputs)
    }

    @Test func failUsesDefaultMessage() async {
        let failure = await expectExecutorFailure(FailExecutor(), .emptyObject)
        #expect(failure?.message == "fail_executor failed")
        #expect(failure?.partialResult == nil)
    }

    @Test func failUsesMessageAndPartial() async {
        let failure = await expectExecutorFailure(FailExecutor(), ["message": "boom", "partial": ["done": 3]])
        #expect(failure?.message == "boom")
        #expect(failure?.partialResult == ["done": 3])
    }

    @Test func failRejectsNonStringMessage() async {
        let failure = await expectExecutorFailure(FailExecutor(), ["message": 3])
        #expect(failure?.message == "inputs.message must be a string, not integer")
    }

    @Test func aggregateReturnsInputsUnchanged() async throws {
        let inputs: JSONValue = ["dep-a": ["n": 1], "dep-b": "two"]
        let result = try await AggregateResultsExecutor().execute(inputs: inputs, context: executorTestContext())
        #expect(result == inputs)
    }

    @Test func aggregateSelectsDependencyIDs() async throws {
        let inputs: JSONValue = ["dep-a": ["n": 1], "dep-b": "two", "own": true]
        let context = executorTestContext(params: ["dependency_ids": ["dep-a", "dep-b", "dep-missing"]])
        let result = try await AggregateResultsExecutor().execute(inputs: inputs, context: context)
        #expect(result == ["dep-a": ["n": 1], "dep-b": "two"])
    }

    @Test func aggregateRejectsBadDependencyIDs() async {
        let context = executorTestContext(params: ["dependency_ids": "dep-a"])
        let failure = await expectExecutorFailure(AggregateResultsExecutor(), ["dep-a": 1], context: context)
        #expect(failure?.message == "params.dependency_ids must be an array of strings")
    }

    @Test func builtinsHaveTheDocumentedNames() throws {
        let policy = try CommandPolicy(allowlist: ["echo"])
        let registry = ExecutorRegistry(BuiltinExecutors.all(command: policy, rest: RestExecutor()))
        #expect(registry.names == [
            "aggregate_results_executor", "command_executor", "echo_executor", "fail_executor",
            "rest_executor", "sleep_executor", "system_info_executor",
        ])
        #expect(registry.names == BuiltinExecutors.names)
        #expect((registry["command_executor"] as? CommandExecutor)?.policy == policy)
    }
}
