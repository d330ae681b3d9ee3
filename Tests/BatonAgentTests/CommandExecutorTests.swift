import BatonCore
import Foundation
import Testing

@testable import BatonAgent

@Suite("command_executor")
struct CommandExecutorTests {
    let executor: CommandExecutor

    init() throws {
        executor = CommandExecutor(policy: try CommandPolicy(
            allowlist: ["echo", "cat", "pwd", "printenv", "sh", "sleep", "true"], environmentAllow: ["BATON_TEST_VAR"]))
    }

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

    @Test func acceptsTheResolvedAbsolutePath() async throws {
        let path = try #require(executor.policy.names["echo"])
        #expect(path.hasPrefix("/"))
        let result = try await run(["command": .string(path), "args": ["direct"]])
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

    @Test func runsInTheConfiguredDirectoryWithAMinimalEnvironment() async throws {
        let directory = FileManager.default.temporaryDirectory.resolvingSymlinksInPath().path
        let executor = CommandExecutor(policy: try CommandPolicy(
            allowlist: ["pwd", "printenv"], environmentAllow: ["BATON_TEST_VAR"], workingDirectory: directory,
            environment: ["PATH": "relative/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/root", "SECRET": "x"]))
        let pwd = try await executor.execute(inputs: ["command": "pwd"], context: executorTestContext())
        #expect(pwd["stdout"]?.stringValue == directory + "\n")

        let env = try await executor.execute(
            inputs: ["command": "printenv", "env": ["BATON_TEST_VAR": "value 1"]], context: executorTestContext())
        let lines = Set(env["stdout"]?.stringValue?.split(separator: "\n").map(String.init) ?? [])
        #expect(lines == ["PATH=/usr/bin:/bin", "LANG=C.UTF-8", "BATON_TEST_VAR=value 1"],
                "only PATH (absolute directories), LANG and the allowed input reach the program")
    }

    @Test func theDefaultDirectoryIsTheRoot() async throws {
        let pwd = try await run(["command": "pwd"])
        #expect(pwd["stdout"] == "/\n")
    }

    @Test func inputsCwdIsRefused() async {
        for directory in ["/tmp", "/no/such/dir", "/"] {
            let failure = await expectExecutorFailure(executor, ["command": "pwd", "cwd": .string(directory)])
            #expect(failure?.message == "inputs.cwd is not accepted: commands run in the agent's agent.command_cwd")
        }
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

    @Test(arguments: [
        "ls", "/bin/ls", "rm", "date", "/any/path/echo", "../../bin/echo", "./echo", "bin/echo", "echo/",
        "/usr/bin/../bin/echo", "//usr/bin/echo", "/usr/bin//echo", "/usr/bin/./echo", " echo",
    ])
    func programsOutsideTheAllowlistAreRefused(_ command: String) async {
        let failure = await expectExecutorFailure(executor, ["command": .string(command)])
        #expect(failure?.message == "command '\(command)' is not in the agent's allowlist")
    }

    /// `AgentConfig`'s default `agent.command_allowlist` (BatonConfigTests checks that it is this list).
    static let defaultAllowlist = ["echo", "true", "false", "sleep", "uname"]

    @Test func dateIsNotInTheDefaultAllowlist() async throws {
        let executor = CommandExecutor(policy: try CommandPolicy(allowlist: Self.defaultAllowlist))
        #expect(executor.policy.names.keys.sorted() == Self.defaultAllowlist.sorted())
        let failure = await expectExecutorFailure(executor, ["command": "date", "args": ["-f", "/etc/shadow"]])
        #expect(failure?.message == "command 'date' is not in the agent's allowlist")
        let absolute = await expectExecutorFailure(executor, ["command": "/usr/bin/date", "args": ["-f", "/etc/shadow"]])
        #expect(absolute?.message == "command '/usr/bin/date' is not in the agent's allowlist")
    }

    @Test func aBareNameStandsForAListedAbsolutePath() async throws {
        let echo = try #require(CommandPolicy.search("echo", in: ProcessInfo.processInfo.environment["PATH"] ?? CommandPolicy.fallbackPath))
        let executor = CommandExecutor(policy: try CommandPolicy(allowlist: [echo]))
        #expect(try await executor.execute(inputs: ["command": "echo", "args": ["by name"]], context: executorTestContext())["stdout"]
                == "by name\n")
        #expect(try await executor.execute(inputs: ["command": .string(echo), "args": ["by path"]], context: executorTestContext())["stdout"]
                == "by path\n")
    }

    @Test func allowlistEntriesAreResolvedWhenTheAgentStarts() {
        let missing = #expect(throws: AgentSetupError.self) { try CommandPolicy(allowlist: ["baton-no-such-program"]) }
        #expect(missing?.key == "agent.command_allowlist")
        #expect(missing?.reason.hasPrefix("'baton-no-such-program' was not found on the agent's PATH") == true)
        for entry in ["../../bin/echo", "bin/echo", "/usr/bin/../bin/echo", "/usr//bin/echo", "/usr/bin/"] {
            let relative = #expect(throws: AgentSetupError.self) { try CommandPolicy(allowlist: [entry]) }
            #expect(relative?.description
                    == "agent.command_allowlist: '\(entry)' must be a program name or an absolute path without '.', '..' or '//' components")
        }
        let plain = FileManager.default.temporaryDirectory.resolvingSymlinksInPath()
            .appendingPathComponent("baton-plain-\(UUID().uuidString)").path
        _ = FileManager.default.createFile(atPath: plain, contents: Data("echo hi\n".utf8), attributes: [.posixPermissions: 0o644])
        defer { try? FileManager.default.removeItem(atPath: plain) }
        let notExecutable = #expect(throws: AgentSetupError.self) { try CommandPolicy(allowlist: [plain]) }
        #expect(notExecutable?.description == "agent.command_allowlist: '\(plain)' is not an executable file")
        let directoryEntry = #expect(throws: AgentSetupError.self) { try CommandPolicy(allowlist: ["/usr/bin"]) }
        #expect(directoryEntry?.description == "agent.command_allowlist: '/usr/bin' is not an executable file")
        let directory = #expect(throws: AgentSetupError.self) { try CommandPolicy(allowlist: ["echo"], workingDirectory: "/no/such/dir") }
        #expect(directory?.description == "agent.command_cwd: '/no/such/dir' is not a directory")
        let relativeDirectory = #expect(throws: AgentSetupError.self) { try CommandPolicy(allowlist: [], workingDirectory: "tmp") }
        #expect(relativeDirectory?.description == "agent.command_cwd: 'tmp' must be an absolute path")
    }

    @Test(arguments: ["PATH", "LD_PRELOAD", "LD_LIBRARY_PATH", "ld_audit", "DYLD_INSERT_LIBRARIES", "GCONV_PATH", "BASH_ENV", "IFS"])
    func loaderVariablesAreRefusedEvenWhenListed(_ name: String) async throws {
        let listed = #expect(throws: AgentSetupError.self) { try CommandPolicy(allowlist: ["echo"], environmentAllow: [name]) }
        #expect(listed?.description == "agent.command_env_allow: '\(name)' changes how programs are found or loaded and is never taken from inputs")

        let failure = await expectExecutorFailure(executor, ["command": "echo", "env": .object([name: "/tmp/evil.so"])])
        #expect(failure?.message == "inputs.env.\(name) is never passed to a command: it changes how programs are found or loaded")
    }

    @Test func variablesNotInTheAllowlistAreRefused() async {
        let failure = await expectExecutorFailure(executor, ["command": "echo", "env": ["HOME": "/root"]])
        #expect(failure?.message == "inputs.env.HOME is not allowed: agent.command_env_allow does not list it")
        let badName = await expectExecutorFailure(executor, ["command": "echo", "env": ["A=B": "x"]])
        #expect(badName?.message == "inputs.env: 'A=B' is not a variable name")
        let nul = await expectExecutorFailure(executor, ["command": "echo", "env": ["BATON_TEST_VAR": "a\u{0}b"]])
        #expect(nul?.message == "inputs.env.BATON_TEST_VAR must not contain NUL")
    }

    @Test func argumentsWithNULAreRefused() async {
        let failure = await expectExecutorFailure(executor, ["command": "echo", "args": ["ok", "a\u{0}b"]])
        #expect(failure?.message == "inputs.args[1] must not contain NUL")
    }

    @Test(arguments: [
        JSONValue.double(1e300), .int(Int.max), .int(0), .double(-1), .double(604_800.5), .double(.nan), .double(.infinity),
        .string("NaN"), .string("inf"),
    ])
    func outOfRangeTimeoutsAreRefusedWithoutACrash(_ timeout: JSONValue) async {
        let failure = await expectExecutorFailure(executor, ["command": "echo", "timeout_s": timeout])
        #expect(failure?.message == "inputs.timeout_s must be more than 0 and at most 604800")
    }

    @Test func badInputsNameTheField() async {
        let noCommand = await expectExecutorFailure(executor, ["args": ["x"]])
        #expect(noCommand?.message == "inputs.command is required and must be a non-empty string")
        let args = await expectExecutorFailure(executor, ["command": "echo", "args": "x"])
        #expect(args?.message == "inputs.args must be an array of strings, not string")
        let timeout = await expectExecutorFailure(executor, ["command": "echo", "timeout_s": 0])
        #expect(timeout?.message == "inputs.timeout_s must be more than 0 and at most 604800")
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
