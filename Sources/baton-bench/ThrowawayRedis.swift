import Foundation
import RedisClient

#if canImport(Glibc)
import Glibc
#endif

/// A redis-server started for one benchmark run: free port on 127.0.0.1, temporary directory,
/// no persistence. ``stop()`` shuts it down and deletes the directory.
final class ThrowawayRedis: Sendable {
    let port: Int
    let directory: URL
    private let process: Process

    /// `redis://127.0.0.1:PORT/0`.
    var url: String { "redis://127.0.0.1:\(port)/0" }

    private init(port: Int, directory: URL, process: Process) {
        self.port = port
        self.directory = directory
        self.process = process
    }

    /// Starts redis-server (found on PATH) and returns once it answers PING.
    static func start(extraArguments: [String] = []) async throws -> ThrowawayRedis {
        var lastError: any Error = BenchError("redis-server did not start")
        for _ in 0..<3 {  // the free port may be taken by someone else before redis binds it
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("baton-bench-redis-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let port = try freeTCPPort()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [
                "redis-server", "--bind", "127.0.0.1", "--port", String(port), "--dir", directory.path,
                "--save", "", "--appendonly", "no",
                "--logfile", directory.appendingPathComponent("redis.log").path,
            ] + extraArguments
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let redis = ThrowawayRedis(port: port, directory: directory, process: process)
            do {
                try await redis.waitUntilReady()
                return redis
            } catch {
                lastError = error
                redis.stop()
            }
        }
        throw lastError
    }

    private func waitUntilReady() async throws {
        var configuration = RedisConfiguration(endpoint: .tcp(host: "127.0.0.1", port: port))
        configuration.reconnectTimeout = .milliseconds(100)
        let probe = RedisConnection(configuration: configuration)
        defer { probe.close() }
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw BenchError("redis-server on port \(port) exited at start") }
            if let info = try? await probe.send(["INFO", "server"]).string {
                if info.contains("process_id:\(process.processIdentifier)\r\n") { return }
                throw BenchError("port \(port) is answered by another redis-server")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BenchError("redis-server on port \(port) did not answer within 10 s")
    }

    /// Stops the server and deletes its directory. SIGKILL, not SIGTERM: there is nothing to
    /// save, and a child started from Swift's thread pool inherits that thread's signal mask,
    /// in which SIGTERM is blocked (the server would ignore it).
    func stop() {
        if process.isRunning { _ = kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// A failure of the benchmark itself (not of what it measures).
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
func freeTCPPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BenchError("socket() failed: errno \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
            bind(fd, address, length) == 0 && getsockname(fd, address, &length) == 0
        }
    }
    guard bound else { throw BenchError("bind() failed: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}
