import BatonAgentMain

// `baton-agent --executor NAME[,NAME…] --concurrency N`: runs tasks of the built-in executor types.
// An agent with executors of your own is the same two lines (see examples/custom-executor).
await AgentMain.run(executors: [], builtins: BuiltinExecutors.names)
