import Foundation
import Synchronization

/// What one run of the `baton` CLI printed, and how it exited.
struct CLIRun: Sendable {
    var status: Int32
    var output: String
    var errors: String
}

extension Deployment {
    /// Runs the `baton` CLI against this deployment's Redis and namespace.
    func cli(_ arguments: [String], environment extra: [String: String] = [:]) async throws -> CLIRun {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "\(binaryDirectory)/baton")
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["BATON_REDIS_URL": redisURL, "BATON_NAMESPACE": namespace, "BATON_LOG_LEVEL": "warning"]) { $1 }
            .merging(extra) { $1 }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Reading to the end blocks: do it on threads of their own, never on the cooperative pool
        // (and both pipes at once, so a full stderr cannot stall the process).
        return await withCheckedContinuation { (done: CheckedContinuation<CLIRun, Never>) in
            Thread {
                let errors = LockedData()
                let reader = Thread { errors.set(err.fileHandleForReading.readDataToEndOfFile()) }
                reader.start()
                let output = out.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                while !reader.isFinished { usleep(1000) }
                done.resume(returning: CLIRun(
                    status: process.terminationStatus, output: String(decoding: output, as: UTF8.self),
                    errors: String(decoding: errors.get(), as: UTF8.self)))
            }.start()
        }
    }
}

/// Bytes handed from one thread to another.
private final class LockedData: Sendable {
    private let value = Mutex<Data>(Data())
    func set(_ data: Data) { value.withLock { $0 = data } }
    func get() -> Data { value.withLock { $0 } }
}
