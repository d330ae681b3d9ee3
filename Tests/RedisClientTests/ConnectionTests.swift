import Foundation
import RedisClient
import Testing

@Suite("Connections", .timeLimit(.minutes(1)))
struct ConnectionTests {
    @Test func authAndSelectOnConnect() async throws {
        let admin = try TestRedis.client()
        defer { admin.close() }
        let user = "rct-\(UUID().uuidString)"
        let password = "p@ss:\(UUID().uuidString)"
        try await admin.send("ACL", "SETUSER", user, "on", ">\(password)", "~*", "&*", "+@all")
        do {
            try await checkAuthAndSelect(admin: admin, user: user, password: password)
        } catch {
            _ = try? await admin.send("ACL", "DELUSER", user)
            throw error
        }
        try await admin.send("ACL", "DELUSER", user)
    }

    private func checkAuthAndSelect(admin: RedisClient, user: String, password: String) async throws {
        let (host, port) = try TestRedis.hostAndPort()
        let key = TestRedis.prefix()
        let encoded = password.replacingOccurrences(of: "@", with: "%40").replacingOccurrences(of: ":", with: "%3A")
        let redis = try RedisClient(url: "redis://\(user):\(encoded)@\(host):\(port)/3")
        defer { redis.close() }
        #expect(try await redis.send("ACL", "WHOAMI").string == user)
        let info = try await redis.send("CLIENT", "INFO").string ?? ""
        #expect(info.contains(" db=3 "))
        #expect(info.contains(" user=\(user) "))

        // Keys written through the db-3 client are invisible in db 0 and visible in db 3.
        try await redis.send("SET", key, "in three")
        #expect(try await admin.send("GET", key) == .null)
        let three = try RedisClient(url: "redis://\(host):\(port)/3")
        defer { three.close() }
        #expect(try await three.send("GET", key).string == "in three")
        try await three.send("DEL", key)

        // A wrong password fails the connection at once (retrying will not cure it), and says why.
        let wrong = try RedisClient(url: "redis://\(user):wrong@\(host):\(port)/0")
        defer { wrong.close() }
        let start = ContinuousClock.now
        let error = await #expect(throws: RedisError.self) { try await wrong.send("PING") }
        #expect(ContinuousClock.now - start < .seconds(2))
        guard case .connectFailed(let reason) = error else {
            Issue.record("expected connectFailed, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("AUTH"))
    }

    @Test func requirePassAndClientName() async throws {
        let server = try await RedisServerProcess.start(extraArguments: ["--requirepass", "t0p"], password: "t0p")
        defer { server.stop() }
        let redis = try RedisClient(url: "redis://:t0p@127.0.0.1:\(server.port)/1")
        defer { redis.close() }
        #expect(try await redis.send("PING") == .status("PONG"))
        #expect(try await redis.send("CLIENT", "INFO").string?.contains(" db=1 ") == true)

        let blocking = redis.makeBlockingConnection(name: "rct-named")
        defer { blocking.close() }
        #expect(try await blocking.send(RedisCommand("CLIENT", "GETNAME")).string == "rct-named")
        #expect(try await blocking.send(RedisCommand("CLIENT", "INFO")).string?.contains(" db=1 ") == true)

        // A database the server does not have is rejected when connecting.
        let noSuchDatabase = try RedisClient(url: "redis://:t0p@127.0.0.1:\(server.port)/99")
        defer { noSuchDatabase.close() }
        let rejected = await #expect(throws: RedisError.self) { try await noSuchDatabase.send("PING") }
        #expect(rejected.map { "\($0)" }?.contains("SELECT rejected") == true)

        let anonymous = try RedisClient(url: "redis://127.0.0.1:\(server.port)/0")
        defer { anonymous.close() }
        let error = await #expect(throws: RedisError.self) { try await anonymous.send("GET", "x") }
        #expect(error.map { "\($0)" }?.contains("NOAUTH") == true)
    }

    @Test func pipelineKeepsOrderAndErrorsInPlace() async throws {
        let redis = try TestRedis.client()
        defer { redis.close() }
        let key = TestRedis.prefix()
        var commands: [RedisCommand] = []
        for index in 0..<1000 {
            commands.append(index == 500 ? ["INCRBY", key, "not-a-number"] : ["RPUSH", key, String(index)])
        }
        let replies = try await redis.pipeline(commands)
        #expect(replies.count == 1000)
        for (index, reply) in replies.enumerated() {
            switch index {
            case ..<500: #expect(reply == .integer(index + 1), "reply \(index)")
            case 500: #expect(reply.errorMessage?.hasPrefix("ERR") == true, "reply \(index): \(reply)")
            default: #expect(reply == .integer(index), "reply \(index)")
            }
        }
        let list = try await redis.send("LRANGE", key, "0", "-1").array?.compactMap(\.string)
        #expect(list == (0..<1000).filter { $0 != 500 }.map(String.init))
        #expect(try await redis.pipeline([]) == [])
    }

    @Test func concurrentCallersAreAllAnswered() async throws {
        let redis = try TestRedis.client()
        defer { redis.close() }
        let key = TestRedis.prefix()
        let values = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<200 {
                group.addTask { try await redis.send("INCR", key).int ?? -1 }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(values.sorted() == Array(1...200))
        #expect(try await redis.send("GET", key).int == 200)

        // Mixed concurrent pipelines and single commands on one connection stay paired up.
        let single = try RedisClient(configuration: TestRedis.configuration(), poolSize: 1)
        defer { single.close() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<50 {
                group.addTask {
                    let echoes = (0..<20).map { RedisCommand("ECHO", "\(task)-\($0)") }
                    let replies = try await single.pipeline(echoes)
                    #expect(replies.map(\.string) == (0..<20).map { "\(task)-\($0)" })
                    #expect(try await single.send("ECHO", "\(task)").string == "\(task)")
                }
            }
            try await group.waitForAll()
        }
    }

    @Test func commandTimeoutResetsTheConnection() async throws {
        let configuration = try TestRedis.configuration()
        let connection = RedisConnection(configuration: configuration)
        defer { connection.close() }
        let key = TestRedis.prefix()
        #expect(try await connection.send(["PING"]) == .status("PONG"))

        let start = ContinuousClock.now
        await #expect(throws: RedisError.timeout) {
            try await connection.send(["BLPOP", key, "5"], timeout: .milliseconds(200))
        }
        let elapsed = ContinuousClock.now - start
        #expect(elapsed >= .milliseconds(200))
        #expect(elapsed < .seconds(3))
        #expect(RedisError.timeout.isConnectionError)

        // The next command runs on a fresh connection and gets its own reply, not BLPOP's.
        try await connection.send(["RPUSH", key, "x"])
        #expect(try await connection.send(["LPOP", key]).string == "x")
    }

    @Test func writeToConnectionClosedByServerFailsInsteadOfCrashing() async throws {
        let admin = try TestRedis.client()
        defer { admin.close() }
        var configuration = try TestRedis.configuration()
        configuration.idleCheck = nil  // the write must meet the dead socket
        let connection = RedisConnection(configuration: configuration)
        defer { connection.close() }
        let key = TestRedis.prefix()
        // Built once, so that the write follows the kill at once.
        let write = RedisCommand("SET", key, String(repeating: "x", count: 8 << 20))
        for attempt in 0..<3 {
            guard let id = try await connection.send(["CLIENT", "ID"]).int else {
                throw TestSetupError(description: "CLIENT ID gave no id")
            }
            try await admin.send("CLIENT", "KILL", "ID", String(id))
            // A write far larger than the socket buffers, sent at once, hits the closed socket
            // (EPIPE): it must fail as a lost connection, not raise SIGPIPE and kill the process.
            let error = await #expect(throws: RedisError.self, "attempt \(attempt)") {
                try await connection.send(write)
            }
            #expect(error?.isConnectionError == true)
            #expect(try await connection.send(["PING"]) == .status("PONG"))
        }
    }

    /// A connection the server closed while it was idle (a restart, a failover, `CLIENT KILL`)
    /// is found dead before the next command is written: the command runs on a fresh one.
    @Test func anIdleConnectionClosedByTheServerIsReplacedBeforeUse() async throws {
        let admin = try TestRedis.client()
        defer { admin.close() }
        let connection = RedisConnection(configuration: try TestRedis.configuration())
        defer { connection.close() }
        let key = TestRedis.prefix()
        for _ in 0..<3 {
            guard let id = try await connection.send(["CLIENT", "ID"]).int else {
                throw TestSetupError(description: "CLIENT ID gave no id")
            }
            try await admin.send("CLIENT", "KILL", "ID", String(id))
            try await Task.sleep(for: .milliseconds(600))  // idle past the check's threshold (500 ms)
            #expect(try await connection.send(["SET", key, "v"]) == .status("OK"))
            #expect(try await connection.send(["CLIENT", "ID"]).int != id, "a new connection")
        }
    }

    @Test func closingConnectionsNeverDisturbsOthers() async throws {
        // Closing a connection (explicitly, then again from deinit) while other connections are
        // being opened must not touch their sockets: every reply stays the expected one.
        let configuration = try TestRedis.configuration()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for round in 0..<100 {
                        let connection = RedisConnection(configuration: configuration)
                        let subscriber = RedisSubscriber(configuration: configuration)
                        try await subscriber.subscribe(["rct:closing:\(worker)"])
                        let text = "\(worker)-\(round)"
                        #expect(try await connection.send(["ECHO", text]).string == text)
                        #expect(try await connection.pipeline([["ECHO", text], ["PING"]]).map(\.string) == [text, "PONG"])
                        connection.close()
                        subscriber.close()
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    @Test func closedConnectionRejectsCommands() async throws {
        let connection = RedisConnection(configuration: try TestRedis.configuration())
        #expect(try await connection.send(["PING"]) == .status("PONG"))
        connection.close()
        await #expect(throws: RedisError.closed) { try await connection.send(["PING"]) }

        let redis = try TestRedis.client()
        redis.close()
        await #expect(throws: RedisError.closed) { try await redis.send("PING") }
    }
}
