import Foundation
import RedisClient

/// A throwaway `redis-server` on a free port with its own data directory, for `baton dev`, the
/// benchmark and tests. Stopped (and its directory removed) by ``stop()``.
public final class LocalRedis: Sendable {
    public let port: Int
    public let directory: String
    private let server: ChildProcess

    /// The URL to connect to it.
    public var url: String { "redis://127.0.0.1:\(port)/0" }

    /// Starts the server and waits (up to 10 s) until it answers PING.
    public init(directory: String? = nil) async throws {
        let directory = directory ?? (NSTemporaryDirectory() + "baton-redis-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        guard let executable = Self.find("redis-server") else {
            throw RedisError.connectFailed("redis-server is not installed (apt-get install -y redis-server, or run scripts/dev)")
        }
        let port = ChildProcess.freePort()
        self.port = port
        self.directory = directory
        server = try ChildProcess(
            name: "redis-server", executable: executable,
            arguments: ["--port", String(port), "--bind", "127.0.0.1", "--dir", directory,
                        "--save", "", "--appendonly", "no", "--daemonize", "no"],
            environment: [:], logPath: directory + "/redis.log")
        let client = RedisClient(configuration: RedisConfiguration(
            endpoint: .tcp(host: "127.0.0.1", port: port), reconnectTimeout: .milliseconds(100)), poolSize: 1)
        defer { client.close() }
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            if (try? await client.send("PING"))?.string == "PONG" { return }
            if ContinuousClock.now > deadline || !server.isRunning {
                await server.stop()
                throw RedisError.connectFailed("redis-server did not start on port \(port); see \(directory)/redis.log")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Stops the server and removes its directory.
    public func stop() async {
        await server.stop(grace: .seconds(5))
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A program on PATH.
    public static func find(_ program: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/local/sbin"]
        for dir in directories {
            let candidate = "\(dir)/\(program)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
