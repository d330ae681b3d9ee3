/// The executors that ship with the agent.
public enum BuiltinExecutors {
    /// The type names of the built-in executors, sorted.
    public static let names = [
        "aggregate_results_executor", "command_executor", "echo_executor", "fail_executor",
        "rest_executor", "sleep_executor", "system_info_executor",
    ]

    /// One of each built-in executor: `system_info_executor`, `command_executor` (limited by
    /// `command`), `rest_executor` (limited by `rest`), `aggregate_results_executor`,
    /// `echo_executor`, `sleep_executor` and `fail_executor`.
    public static func all(command: CommandPolicy, rest: RestExecutor) -> [any Executor] {
        [
            SystemInfoExecutor(),
            CommandExecutor(policy: command),
            rest,
            AggregateResultsExecutor(),
            EchoExecutor(),
            SleepExecutor(),
            FailExecutor(),
        ]
    }
}
