import BatonCore
import Foundation
import Testing

@testable import BatonAgent

@Suite("command_executor")
struct CommandExecutorTests {
    let executor = CommandExecutor(allowlist: ["echo", "cat", "pwd", "printenv", "sh", "sleep", "true"])

    private func run(_ inputs: JSONValue, context: ExecutionContext = executorTestContext()) async throws -> JSONValue {
        try await executor.execute(inputs: inputs, context: context)
    }

    @Test func capturesStdoutAndExitCode() async throws {
        let result = try await run(["command": "echo", "args": ["hello", "world"]])
        #expect(result["exit_code"] == 0)
        #expect(result["stdout"] == "hello world\n")
        #expect(result["stderr"] == "")
        #expect(result["stdout_truncated"] == false)
        #expect(result["stderr_truncated"] == false)
        #expect((result["duration_s"]?.doubleValue ?? -1) >= 0)
        #expect((result["duration_s"]?.doubleValue ?? 99) < 10)
    }

    @Test func acceptsAnAbsolutePathWhoseBaseNameIsAllowed() async throws {
        let result = try await run(["command": "/bin/echo", "args": ["direct"]])
        #expect(result["stdout"] == "direct\n")
    }

    @Test func argumentsAreNotInterpretedByAShell() async throws {
        let result = try await run(["command": "echo", "args": ["$HOME", "*", "a;b", "`id`"]])
        #expect(result["stdout"] == "$HOME * a;b `id`\n")
    }

    @Test func feedsStdin() async throws {
        let result = try await run(["command": "cat", "stdin": "line one\nline two"])
        #expect(result["stdout"] == "line one\nline two")
    }

    @Test func withoutStdinTheProgramReadsNothing() async throws {
        let result = try await run(["command": "cat", "timeout_s": 5])
        #expect(result["stdout"] == "")
    }

    @Test func largeStdinToAProgramThatDoesNotReadIt() async throws {
        let result = try await run(["command": "true", "stdin": .string(String(repeating: "x", count: 2 << 20))])
        #expect(result["exit_code"] == 0)
    }

    @Test func usesWorkingDirectoryAndEnvironment() async throws {
        let directory = FileManager.default.temporaryDirectory.resolvingSymlinksInPath().path
        let pwd = try await run(["command": "pwd", "cwd": .string(directory)])
        #expect(pwd["stdout"]?.stringValue == directory + "\n")

        let env = try await run(["command": "printenv", "args": ["BATON_TEST_VAR", "HOME"],
                                 "env": ["BATON_TEST_VAR": "value 1"]])
        let lines = env["stdout"]?.stringValue?.split(separator: "\n").map(String.init)
        #expect(lines?.first == "value 1")
        #expect(lines?.count == 2, "the agent's environment is inherited")
    }

    @Test func missingWorkingDirectoryIsRefused() async {
        let failure = await expectExecutorFailure(executor, ["command": "pwd", "cwd": "/no/such/dir"])
        #expect(failure?.message == "inputs.cwd '/no/such/dir' is not a directory")
    }

    @Test func nonZeroExitFailsWithPartialResult() async throws {
        let failure = await expectExecutorFailure(
            executor, ["command": "sh", "args": ["-c", "echo out; echo err >&2; exit 3"]])
        #expect(failure?.message == "command exited with status 3")
        let partial = try #require(failure?.partialResult)
        #expect(partial["exit_code"] == 3)
        #expect(partial["stdout"] == "out\n")
        #expect(partial["stderr"] == "err\n")
    }

    @Test func deathBySignalIsReported() async throws {
        let failure = await expectExecutorFailure(executor, ["command": "sh", "args": ["-c", "kill -9 $$"]])
        #expect(failure?.message == "command terminated by signal 9")
        #expect(failure?.partialResult?["exit_code"] == -9)
        #expect(failure?.partialResult?["signal"] == 9)
    }

    @Test(arguments: ["ls", "/bin/ls", "rm"])
    func programsOutsideTheAllowlistAreRefused(_ command: String) async {
        let failure = await expectExecutorFailure(executor, ["command": .string(command)])
        #expect(failure?.message == "command '\(command)' is not in the agent's allowlist")
    }

    @Test func allowlistedButMissingProgram() async {
        let executor = CommandExecutor(allowlist: ["baton-no-such-program"])
        let failure = await expectExecutorFailure(executor, ["command": "baton-no-such-program"])
        #expect(failure?.message == "command 'baton-no-such-program' was not found in PATH")
    }

    @Test func badInputsNameTheField() async {
        let noCommand = await expectExecutorFailure(executor, ["args": ["x"]])
        #expect(noCommand?.message == "inputs.command is required and must be a non-empty string")
        let args = await expectExecutorFailure(executor, ["command": "echo", "args": "x"])
        #expect(args?.message == "inputs.args must be an array of strings, not string")
        let timeout = await expectExecutorFailure(executor, ["command": "echo", "timeout_s": 0])
        #expect(timeout?.message == "inputs.timeout_s must be greater than 0")
        let env = await expectExecutorFailure(executor, ["command": "echo", "env": ["A": ["x"]]])
        #expect(env?.message == "inputs.env.A must be a string, number or boolean")
    }

    @Test func chattyProgramIsTruncatedWithoutDeadlock() async throws {
        // 3 MB on stderr first, then 3 MB on stdout: a sequential reader would block forever.
        let script = "yes err | head -c 3000000 >&2; yes out | head -c 3000000"
        let result = try await run(["command": "sh", "args": ["-c", .string(script)], "timeout_s": 20])
        #expect(result["exit_code"] == 0)
        #expect(result["stdout"]?.stringValue?.utf8.count == CommandExecutor.outputLimit)
        #expect(result["stderr"]?.stringValue?.utf8.count == CommandExecutor.outputLimit)
        #expect(result["stdout_truncated"] == true)
        #expect(result["stderr_truncated"] == true)
        #expect(result["stdout"]?.stringValue?.hasPrefix("out\nout\n") == true)
    }

    @Test func backgroundChildHoldingTheOutputDoesNotHangTheRun() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let result = try await run(["command": "sh", "args": ["-c", "echo hi; sleep 30 & exit 0"]])
        #expect(result["stdout"] == "hi\n")
        #expect(start.duration(to: clock.now) < .seconds(12))  // vs. 30 s if it waited for the child
    }

    @Test func timeoutStopsTheProgram() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let failure = await expectExecutorFailure(
            executor, ["command": "sh", "args": ["-c", "echo started; exec sleep 30"], "timeout_s": 0.5])
        #expect(start.duration(to: clock.now) < .seconds(12))  // vs. 30 s
        #expect(failure?.message == "command timed out after 0.5 s")
        #expect(failure?.partialResult?["stdout"] == "started\n")
        #expect(failure?.partialResult?["signal"] == 15)
    }

    @Test func timeoutKillsAProgramThatIgnoresTerm() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let failure = await expectExecutorFailure(
            executor, ["command": "sh", "args": ["-c", "trap '' TERM; exec sleep 30"], "timeout_s": 0.3])
        let elapsed = start.duration(to: clock.now)
        #expect(elapsed >= .seconds(1.2), "SIGKILL comes only after the grace second")
        #expect(elapsed < .seconds(12))  // vs. 30 s
        #expect(failure?.message == "command timed out after 0.3 s")
        #expect(failure?.partialResult?["signal"] == 9)
    }

    @Test func cancellationStopsTheProgramQuickly() async throws {
        let flag = CancellationFlag()
        let canceller = setFlag(flag, after: 0.3)
        let clock = ContinuousClock()
        let start = clock.now
        let failure = await expectExecutorFailure(
            executor, ["command": "sleep", "args": ["30"]], context: executorTestContext(cancellation: flag))
        await canceller.value
        #expect(start.duration(to: clock.now) < .seconds(12))  // vs. 30 s
        #expect(failure?.message == "cancelled")
        #expect(failure?.partialResult?["signal"] == 15)
    }

    @Test func swiftTaskCancellationStopsTheProgram() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let task = Task { try await run(["command": "sleep", "args": ["30"]]) }
        try await Task.sleep(for: .milliseconds(300))
        task.cancel()
        await #expect(throws: ExecutorFailure.self) { try await task.value }
        #expect(start.duration(to: clock.now) < .seconds(12))  // vs. 30 s
    }
}
