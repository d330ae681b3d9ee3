import Foundation
import RedisClient

/// A throwaway Redis Cluster of `masters` masters (no replicas) on free ports, each with its own
/// directory, for `baton dev --cluster N` and `baton-bench --cluster N`. Created with
/// `redis-cli --cluster create`; ready once every node says `cluster_state:ok`. Stopped (and its
/// directories removed) by ``stop()``. `scripts/dev-redis --cluster N` does the same from a shell,
/// with replicas.
public final class LocalRedisCluster: Sendable {
    public let ports: [Int]
    public let directory: String
    private let servers: [ChildProcess]

    /// The seeds, as `BATON_REDIS_URL` takes them: `redis://127.0.0.1:P1,redis://127.0.0.1:P2,…`.
    public var url: String { ports.map { "redis://127.0.0.1:\($0)" }.joined(separator: ",") }

    /// Starts the nodes, creates the cluster and waits (up to 30 s) until it serves every slot.
    public init(masters: Int, directory: String? = nil) async throws {
        guard masters >= 3 else { throw RedisError.invalidConfiguration("a Redis Cluster needs at least 3 masters (got \(masters))") }
        guard let server = LocalRedis.find("redis-server"), let cli = LocalRedis.find("redis-cli") else {
            throw RedisError.connectFailed("redis-server and redis-cli are needed (apt-get install -y redis-server)")
        }
        let directory = directory ?? (NSTemporaryDirectory() + "baton-cluster-\(UUID().uuidString.prefix(8))")
        // A node also listens on port + 10000 (the cluster bus): both must be free.
        var ports: [Int] = []
        while ports.count < masters {
            let port = ChildProcess.freePort()
            if port + 10_000 <= 65_535, !ports.contains(port), ChildProcess.isFree(port + 10_000) { ports.append(port) }
        }
        var servers: [ChildProcess] = []
        do {
            for port in ports {
                let node = "\(directory)/node-\(port)"
                try FileManager.default.createDirectory(atPath: node, withIntermediateDirectories: true)
                servers.append(try ChildProcess(
                    name: "redis-server-\(port)", executable: server,
                    arguments: ["--port", String(port), "--bind", "127.0.0.1", "--dir", node,
                                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                "--cluster-node-timeout", "2000", "--save", "", "--appendonly", "no", "--daemonize", "no"],
                    environment: [:], logPath: node + "/redis.log"))
            }
            try await Self.waitUntil("every node answers", seconds: 10) {
                await Self.ask(ports, "PING").allSatisfy { $0 == "PONG" }
            }
            let create = Process()
            create.executableURL = URL(fileURLWithPath: cli)
            create.arguments = ["--cluster", "create"] + ports.map { "127.0.0.1:\($0)" } + ["--cluster-replicas", "0", "--cluster-yes"]
            create.standardOutput = FileHandle.nullDevice
            create.standardError = FileHandle.nullDevice
            try create.run()
            create.waitUntilExit()
            guard create.terminationStatus == 0 else {
                throw RedisError.connectFailed("redis-cli --cluster create failed (status \(create.terminationStatus))")
            }
            try await Self.waitUntil("every node says cluster_state:ok", seconds: 30) {
                await Self.ask(ports, "CLUSTER", "INFO").allSatisfy { $0?.contains("cluster_state:ok") == true }
            }
        } catch {
            for server in servers { await server.stop(grace: .seconds(2)) }
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        self.ports = ports
        self.directory = directory
        self.servers = servers
    }

    /// Stops every node and removes the directories.
    public func stop() async {
        for server in servers { await server.stop(grace: .seconds(5)) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Each node's answer to one command (`nil` for a node that did not answer).
    private static func ask(_ ports: [Int], _ arguments: String...) async -> [String?] {
        var answers: [String?] = []
        for port in ports {
            let connection = RedisConnection(configuration: RedisConfiguration(
                endpoint: .tcp(host: "127.0.0.1", port: port), reconnectTimeout: .milliseconds(100)))
            defer { connection.close() }
            answers.append(try? await connection.send(RedisCommand(arguments)).string)
        }
        return answers
    }

    private static func waitUntil(_ what: String, seconds: Int, _ condition: () async -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while !(await condition()) {
            if ContinuousClock.now > deadline { throw RedisError.connectFailed("local Redis Cluster: timed out waiting until \(what)") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}
