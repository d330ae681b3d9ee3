import BatonAgentMain

/// `shout_executor`: `inputs.text` in capitals, with an exclamation mark. A dependency's result is
/// merged into the inputs under the dependency's id, so `{"text": …}` can also come from a task it
/// depends on (`inputs.from` names which one).
struct Shout: Executor {
    let name = "shout_executor"

    func execute(inputs: JSONValue, context: ExecutionContext) async throws -> JSONValue {
        let source = inputs["from"]?.stringValue.flatMap { inputs[$0] } ?? inputs
        guard let text = source["text"]?.stringValue ?? source.stringValue else {
            throw ExecutorFailure("shout_executor needs inputs.text, or inputs.from naming a dependency whose result is text")
        }
        return ["shout": .string(text.uppercased() + "!")]
    }
}

// The agent: this executor beside the built-in echo_executor, with every flag baton-agent has.
await AgentMain.run(executors: [Shout()], builtins: ["echo_executor"], commandName: "shout-agent")
