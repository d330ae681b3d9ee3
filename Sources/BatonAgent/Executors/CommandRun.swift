import BatonCore
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One run of a program for ``CommandExecutor``: starts it, feeds stdin, drains both outputs,
/// waits for it while watching the timeout and cancellation, and stops it when needed.
struct CommandRun {
    /// How a run ended.
    enum Ending: Equatable {
        case exit(Int32)
        case signal(Int32)
        case timedOut
        case cancelled
    }

    /// The ending and the executor result (`exit_code`, outputs, `duration_s`).
    struct Outcome {
        var ending: Ending
        var result: JSONValue
    }

    var executable: String
    var arguments: [String]
    var directory: String?
    var environment: [String: String]
    var stdin: Data?
    var timeout: Double
    var outputLimit: Int
    var killGrace: Double

    /// How often the wait loop looks at the process, the clock and the cancellation flag.
    static let pollInterval: Duration = .milliseconds(20)

    func run(context: ExecutionContext) async throws(ExecutorFailure) -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }

        let stdoutPipe = Pipe()
        let stderrPipe = Pipe()
        let stdinPipe = stdin.map { _ in Pipe() }
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        process.standardInput = stdinPipe ?? FileHandle.nullDevice

        let clock = ContinuousClock()
        let start = clock.now
        do {
            try await Self.launch(process)
        } catch {
            throw ExecutorFailure("cannot start command '\(executable)': \(error.localizedDescription)")
        }

        let stdoutCapture = OutputCapture(reading: stdoutPipe.fileHandleForReading, limit: outputLimit)
        let stderrCapture = OutputCapture(reading: stderrPipe.fileHandleForReading, limit: outputLimit)
        stdoutCapture.start()
        stderrCapture.start()
        if let stdin, let stdinPipe {
            StdinFeeder.start(stdin, to: stdinPipe.fileHandleForWriting)
        }

        // Wait, watching the deadline and the cancellation flag.
        let deadline = start + ExecutorSupport.duration(seconds: timeout)
        var stopReason: Ending?
        var childEnding: Ending?
        while true {
            childEnding = Self.ending(of: process)
            if childEnding != nil { break }
            if context.isCancelled {
                stopReason = .cancelled
                break
            }
            if clock.now >= deadline {
                stopReason = .timedOut
                break
            }
            if Task.isCancelled {
                await ExecutorSupport.uncancellableSleep(seconds: ExecutorSupport.seconds(Self.pollInterval))
            } else {
                try? await Task.sleep(for: Self.pollInterval)
            }
        }
        if stopReason != nil {
            childEnding = await stop(process)
        }
        let duration = start.duration(to: clock.now)

        // Output still in the pipes is read to the end, unless a background grandchild keeps
        // them open: then what arrived within two seconds is kept.
        let drainDeadline = clock.now + .seconds(2)
        await stdoutCapture.finish(by: drainDeadline)
        await stderrCapture.finish(by: drainDeadline)

        var result: [String: JSONValue] = [:]
        switch childEnding {
        case .exit(let status)?:
            result["exit_code"] = .int(Int(status))
        case .signal(let number)?:
            result["exit_code"] = .int(-Int(number))
            result["signal"] = .int(Int(number))
        default:
            result["exit_code"] = .null
        }
        let (stdoutData, stdoutTruncated) = stdoutCapture.captured
        let (stderrData, stderrTruncated) = stderrCapture.captured
        result["stdout"] = .string(String(decoding: stdoutData, as: UTF8.self))
        result["stderr"] = .string(String(decoding: stderrData, as: UTF8.self))
        result["stdout_truncated"] = .bool(stdoutTruncated)
        result["stderr_truncated"] = .bool(stderrTruncated)
        result["duration_s"] = .double(ExecutorSupport.roundedSeconds(duration))
        return Outcome(ending: stopReason ?? childEnding ?? .signal(SIGKILL), result: .object(result))
    }

    /// Starts the process from a thread of its own whose signal mask is empty.
    ///
    /// Foundation's `Process` on Linux spawns the child with the calling thread's signal mask, and
    /// the threads of Dispatch and of the Swift concurrency pool block nearly every signal: a
    /// program started from there would ignore `SIGTERM`, `SIGINT` and the like (and keep ignoring
    /// them in its own children).
    static func launch(_ process: Process) async throws {
        let box = ProcessBox(process)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let thread = Thread {
                var empty = sigset_t()
                sigemptyset(&empty)
                pthread_sigmask(SIG_SETMASK, &empty, nil)
                do {
                    try box.process.run()
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "baton.command-spawn"
            thread.start()
        }
    }

    /// `SIGTERM`, then `SIGKILL` after the grace period; returns how the program ended, once it
    /// has (or `nil` if even `SIGKILL` did not end it within a few seconds).
    private func stop(_ process: Process) async -> Ending? {
        let pid = process.processIdentifier
        if let ending = Self.ending(of: process) { return ending }
        kill(pid, SIGTERM)
        let graceEnd = ContinuousClock.now + .seconds(killGrace)
        while ContinuousClock.now < graceEnd {
            await ExecutorSupport.uncancellableSleep(seconds: ExecutorSupport.seconds(Self.pollInterval))
            if let ending = Self.ending(of: process) { return ending }
        }
        kill(pid, SIGKILL)
        let killEnd = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < killEnd {
            await ExecutorSupport.uncancellableSleep(seconds: ExecutorSupport.seconds(Self.pollInterval))
            if let ending = Self.ending(of: process) { return ending }
        }
        return nil
    }

    /// How the program itself ended, or `nil` while it runs.
    ///
    /// Foundation reports the end of a `Process` only once every holder of an internal socket
    /// inherited by the child has exited, so a background grandchild would keep `isRunning` true.
    /// `waitid(…, WNOWAIT)` sees the child's own exit and leaves it for Foundation to reap (which
    /// also keeps its pid from being reused while we may still signal it).
    static func ending(of process: Process) -> Ending? {
        #if os(Linux)
        var info = siginfo_t()
        if waitid(P_PID, id_t(process.processIdentifier), &info, WEXITED | WNOHANG | WNOWAIT) == 0 {
            let child = info._sifields._sigchld
            guard child.si_pid != 0 else { return nil }
            return info.si_code == CLD_EXITED ? .exit(child.si_status) : .signal(child.si_status)
        }
        #endif
        // Already reaped by Foundation (or not Linux): ask the `Process`.
        guard !process.isRunning else { return nil }
        return process.terminationReason == .uncaughtSignal
            ? .signal(process.terminationStatus) : .exit(process.terminationStatus)
    }
}

/// Hands a `Process` to the spawning thread (Process is Sendable); the caller does not touch it until `run()` returned.
private struct ProcessBox: Sendable {
    let process: Process
    init(_ process: Process) { self.process = process }
}
