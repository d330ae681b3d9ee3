import BatonCore
import Foundation

/// `command_executor`: runs one program of the agent's allowlist, directly (never through a
/// shell), and returns what it printed. Running programs is a privilege: see ``CommandPolicy``
/// for what may run, with which environment and where.
///
/// Inputs:
/// - `command` (required): a program of the allowlist, by its resolved absolute path or by a
///   bare name (resolved when the agent started, never at run time); anything else is refused
///   (`command '…' is not in the agent's allowlist`);
/// - `args`: an array of arguments (default none; no NUL characters);
/// - `timeout_s`: seconds before the program is stopped, more than 0 and at most 604800
///   (default 30);
/// - `env`: variables to set; each name must be listed in `agent.command_env_allow`, and loader
///   or search-path variables (`PATH`, `LD_*`, …) are refused even then. The program starts from
///   a minimal environment (`PATH`, `LANG`, `LC_ALL` of the agent), never the agent's own;
/// - `stdin`: text written to the program's standard input (otherwise it reads `/dev/null`).
///
/// `inputs.cwd` is refused: programs run in `agent.command_cwd` (default `/`).
///
/// Result: `{"exit_code", "stdout", "stderr", "stdout_truncated", "stderr_truncated", "duration_s"}`.
/// Each output keeps its first MiB (`*_truncated` tells whether more was discarded) and is decoded
/// as UTF-8, invalid bytes replaced. A program killed by a signal has `exit_code` -signal and a
/// `signal` member. The whole result must still fit `agent.max_result_bytes` (1 MiB by default),
/// or the agent fails the task saying so.
///
/// A non-zero exit fails the task (`command exited with status N`) with the result as partial
/// result. On timeout or cancellation the program gets `SIGTERM`, then `SIGKILL` a second later,
/// and the task fails with `command timed out after N s` or `cancelled`. Only the program itself
/// is signalled: background children it leaves behind keep running, and output they write after
/// the program ended is collected for at most two more seconds.
public struct CommandExecutor: Executor {
    /// `command_executor`.
    public let name = "command_executor"

    /// What may run, with which environment and where.
    public let policy: CommandPolicy

    /// How many bytes of each output stream are kept.
    public static let outputLimit = 1 << 20

    /// The timeout when `inputs.timeout_s` is absent.
    public static let defaultTimeout = 30.0

    /// Time between `SIGTERM` and `SIGKILL` when the program must stop.
    static let killGrace = 1.0

    /// Creates the executor.
    /// - Parameter policy: the resolved allowlist, environment and working directory.
    public init(policy: CommandPolicy) {
        self.policy = policy
    }

    /// Runs the command described by the inputs.
    public func execute(inputs: JSONValue, context: ExecutionContext) async throws -> JSONValue {
        let reader = try ExecutorInputs(inputs)
        let command = try reader.requiredString("command")
        let arguments = try reader.stringArray("args") ?? []
        let timeout = try reader.seconds("timeout_s", upTo: ExecutorSupport.maxSeconds) ?? Self.defaultTimeout
        if reader.value("cwd") != nil {
            throw ExecutorFailure("inputs.cwd is not accepted: commands run in the agent's agent.command_cwd")
        }
        let variables = try reader.stringMap("env") ?? [:]
        let stdin = try reader.string("stdin")

        let executable = try policy.program(for: command)
        if let index = arguments.firstIndex(where: { $0.contains("\0") }) {
            throw ExecutorFailure("inputs.args[\(index)] must not contain NUL")
        }
        let environment = try policy.environment(adding: variables)

        let run = CommandRun(
            executable: executable,
            arguments: arguments,
            directory: policy.workingDirectory,
            environment: environment,
            stdin: stdin.map { Data($0.utf8) },
            timeout: timeout,
            outputLimit: Self.outputLimit,
            killGrace: Self.killGrace
        )
        let outcome = try await run.run(context: context)
        let result = outcome.result

        switch outcome.ending {
        case .cancelled:
            throw ExecutorFailure("cancelled", partialResult: result)
        case .timedOut:
            throw ExecutorFailure("command timed out after \(ExecutorSupport.formatSeconds(timeout)) s", partialResult: result)
        case .signal(let number):
            throw ExecutorFailure("command terminated by signal \(number)", partialResult: result)
        case .exit(let status) where status != 0:
            throw ExecutorFailure("command exited with status \(status)", partialResult: result)
        case .exit:
            return result
        }
    }
}
