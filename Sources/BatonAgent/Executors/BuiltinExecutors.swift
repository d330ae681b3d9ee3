/// The executors that ship with the agent.
public enum BuiltinExecutors {
    /// One of each built-in executor: `system_info_executor`, `command_executor` (limited to
    /// `commandAllowlist`), `rest_executor`, `aggregate_results_executor`, `echo_executor`,
    /// `sleep_executor` and `fail_executor`.
    public static func all(commandAllowlist: Set<String>) -> [any Executor] {
        [
            SystemInfoExecutor(),
            CommandExecutor(allowlist: commandAllowlist),
            RestExecutor(),
            AggregateResultsExecutor(),
            EchoExecutor(),
            SleepExecutor(),
            FailExecutor(),
        ]
    }
}
