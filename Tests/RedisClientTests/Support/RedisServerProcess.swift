import Foundation
import RedisClient
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A redis-server of a test's own (free port, temporary directory, no persistence), for tests
/// that kill, restart or reconfigure the server, which the shared one must never suffer.
/// ``stop()`` must be called when done (use `defer`).
final class RedisServerProcess: Sendable {
    let port: Int
    let directory: URL
    /// Extra `redis-server` arguments, e.g. `["--requirepass", "secret"]`.
    let extraArguments: [String]
    private let process = Mutex<Process?>(nil)

    /// `redis://127.0.0.1:PORT/0`.
    var url: String { "redis://127.0.0.1:\(port)/0" }

    var configuration: RedisConfiguration {
        RedisConfiguration(endpoint: .tcp(host: "127.0.0.1", port: port))
    }

    private init(port: Int, directory: URL, extraArguments: [String]) {
        self.port = port
        self.directory = directory
        self.extraArguments = extraArguments
    }

    /// Starts a server on a free port and returns once it answers.
    static func start(extraArguments: [String] = [], password: String? = nil) async throws -> RedisServerProcess {
        var lastError: any Error = TestSetupError(description: "redis-server did not start")
        for _ in 0..<3 {  // another process may grab the free port first
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("rct-redis-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let server = RedisServerProcess(port: try freePort(), directory: directory, extraArguments: extraArguments)
            do {
                try await server.restart(password: password)
                return server
            } catch {
                lastError = error
                server.stop()
            }
        }
        throw lastError
    }

    /// Starts the server (again) on the same port and waits until this very process answers.
    func restart(password: String? = nil) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "redis-server", "--bind", "127.0.0.1", "--port", String(port),
            "--dir", directory.path, "--save", "", "--appendonly", "no",
            "--logfile", directory.appendingPathComponent("redis.log").path,
        ] + extraArguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process.withLock { $0 = process }

        var probeConfiguration = configuration
        probeConfiguration.password = password
        probeConfiguration.connectTimeout = .milliseconds(500)
        probeConfiguration.reconnectTimeout = .milliseconds(200)
        let probe = RedisConnection(configuration: probeConfiguration)
        defer { probe.close() }
        let pid = Int(process.processIdentifier)
        try await waitUntil("redis-server on port \(port) to answer") {
            guard process.isRunning else {
                throw TestSetupError(description: "redis-server on port \(port) exited: \(log())")
            }
            guard let info = try? await probe.send(RedisCommand("INFO", "server")).string else { return false }
            guard info.contains("process_id:\(pid)\r\n") else {
                throw TestSetupError(description: "port \(port) is answered by another redis-server")
            }
            return true
        }
    }

    /// Kills the server with SIGKILL and waits until it is gone.
    func kill() {
        guard let process = process.withLock({ $0 }) else { return }
        if process.isRunning {
            _ = Glibc.kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
    }

    /// Kills the server and removes its directory.
    func stop() {
        kill()
        try? FileManager.default.removeItem(at: directory)
    }

    private func log() -> String {
        let text = (try? String(contentsOf: directory.appendingPathComponent("redis.log"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(5).joined(separator: "\n")
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestSetupError(description: "socket() failed: errno \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
            bind(fd, address, length) == 0 && getsockname(fd, address, &length) == 0
        }
    }
    guard bound else { throw TestSetupError(description: "bind() failed: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}
