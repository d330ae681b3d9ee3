import BatonCore
import Foundation

/// `command_executor`: runs one program of the agent's allowlist, directly (never through a
/// shell), and returns what it printed.
///
/// Inputs:
/// - `command` (required): a program name, resolved through the agent's `PATH`, or a path;
///   refused unless its base name is in the allowlist (or the allowlist holds its exact path);
/// - `args`: an array of arguments (default none);
/// - `timeout_s`: seconds before the program is stopped (default 30);
/// - `cwd`: the working directory; `env`: variables added to (or replacing those of) the agent's
///   environment (they do not change which program `command` resolves to);
/// - `stdin`: text written to the program's standard input (otherwise it reads `/dev/null`).
///
/// Result: `{"exit_code", "stdout", "stderr", "stdout_truncated", "stderr_truncated", "duration_s"}`.
/// Each output keeps its first MiB (`*_truncated` tells whether more was discarded) and is decoded
/// as UTF-8, invalid bytes replaced. A program killed by a signal has `exit_code` -signal and a
/// `signal` member.
///
/// A non-zero exit fails the task (`command exited with status N`) with the result as partial
/// result. On timeout or cancellation the program gets `SIGTERM`, then `SIGKILL` a second later,
/// and the task fails with `command timed out after N s` or `cancelled`. Only the program itself
/// is signalled: background children it leaves behind keep running, and output they write after
/// the program ended is collected for at most two more seconds.
public struct CommandExecutor: Executor {
    /// `command_executor`.
    public let name = "command_executor"

    /// Program base names (or absolute paths) the executor may run.
    public let allowlist: Set<String>

    /// How many bytes of each output stream are kept.
    public static let outputLimit = 1 << 20

    /// The timeout when `inputs.timeout_s` is absent.
    public static let defaultTimeout = 30.0

    /// Time between `SIGTERM` and `SIGKILL` when the program must stop.
    static let killGrace = 1.0

    /// Creates the executor.
    /// - Parameter allowlist: the programs it may run, by base name (`"ls"`) or absolute path.
    public init(allowlist: Set<String>) {
        self.allowlist = allowlist
    }

    /// Runs the command described by the inputs.
    public func execute(inputs: JSONValue, context: ExecutionContext) async throws -> JSONValue {
        let reader = try ExecutorInputs(inputs)
        let command = try reader.requiredString("command")
        let arguments = try reader.stringArray("args") ?? []
        let timeout = try reader.positiveSeconds("timeout_s") ?? Self.defaultTimeout
        let directory = try reader.string("cwd")
        let extraEnvironment = try reader.stringMap("env") ?? [:]
        let stdin = try reader.string("stdin")

        let baseName = (command as NSString).lastPathComponent
        guard allowlist.contains(baseName) || allowlist.contains(command) else {
            throw ExecutorFailure("command '\(command)' is not in the agent's allowlist")
        }
        let agentEnvironment = ProcessInfo.processInfo.environment
        let executable = try Self.resolve(command, path: agentEnvironment["PATH"])
        if let directory {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory),
                  isDirectory.boolValue else {
                throw ExecutorFailure("inputs.cwd '\(directory)' is not a directory")
            }
        }

        let run = CommandRun(
            executable: executable,
            arguments: arguments,
            directory: directory,
            environment: agentEnvironment.merging(extraEnvironment) { _, new in new },
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

    /// The executable for `command`: a path as given, a bare name looked up in `path`.
    static func resolve(_ command: String, path: String?) throws(ExecutorFailure) -> String {
        let files = FileManager.default
        if command.contains("/") {
            guard files.isExecutableFile(atPath: command) else {
                throw ExecutorFailure("command '\(command)' is not an executable file")
            }
            return command
        }
        for directory in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(command)"
            var isDirectory: ObjCBool = false
            if files.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
               files.isExecutableFile(atPath: candidate) {
                return candidate
            }
        }
        throw ExecutorFailure("command '\(command)' was not found in PATH")
    }
}
