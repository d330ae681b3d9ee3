import Foundation
import RedisClient
import Testing

/// Tests that kill and restart Redis, on a server of their own.
@Suite("Reconnection", .timeLimit(.minutes(1)))
struct ReconnectTests {
    @Test func survivesARedisRestart() async throws {
        let server = try await RedisServerProcess.start()
        defer { server.stop() }
        var configuration = server.configuration
        configuration.database = 2
        configuration.reconnectTimeout = .seconds(20)
        let redis = RedisClient(configuration: configuration, poolSize: 1)
        defer { redis.close() }
        let key = TestRedis.prefix()
        let name = "rct-\(UUID().uuidString)"
        let blocking = redis.makeBlockingConnection(name: name)
        defer { blocking.close() }
        let subscriber = redis.makeSubscriber()
        defer { subscriber.close() }

        try await redis.send("SET", key, "before")
        try await subscriber.subscribe(["\(key):channel"])

        try await withRecordedEvents(of: subscriber) { recorder in
            // A command in flight when Redis dies fails with a connection error.
            let inFlight = Task { try await blocking.send(["BLPOP", "\(key):list", "30"], timeout: .seconds(40)) }
            try await redis.waitUntilBlocked(name, in: "blpop")
            server.kill()
            let lost = await #expect(throws: RedisError.self) { try await inFlight.value }
            #expect(lost?.isConnectionError == true, "\(String(describing: lost))")

            // So does the next command on a pooled connection whose socket died with the server.
            let next = await #expect(throws: RedisError.self) { try await redis.send("GET", key) }
            #expect(next?.isConnectionError == true, "\(String(describing: next))")

            // Commands sent while Redis is down wait for it (up to reconnectTimeout) and then run,
            // with AUTH/SELECT/name applied again.
            let start = ContinuousClock.now
            async let afterRestart = redis.send("CLIENT", "INFO")
            async let blockingAfterRestart = blocking.send(["CLIENT", "GETNAME"])
            try await server.restart()
            let info = try await afterRestart.string ?? ""
            #expect(info.contains(" db=2 "))
            #expect(try await blockingAfterRestart.string == name)
            #expect(ContinuousClock.now - start < .seconds(20))
            #expect(try await redis.send("GET", key) == .null)  // no persistence: the data is gone
            try await redis.send("SET", key, "after")
            #expect(try await redis.send("GET", key).string == "after")

            // The subscriber came back too, and renewed its subscription.
            try await waitUntil("the subscriber to resubscribe") { recorder.resubscriptions >= 1 }
            #expect(try await redis.send("PUBLISH", "\(key):channel", "back") == .integer(1))
            try await recorder.waitForMessage { $0.text == "back" }
        }
    }

    @Test func connectionRefusedFailsQuickly() async throws {
        var configuration = RedisConfiguration(endpoint: .tcp(host: "127.0.0.1", port: try freePort()))
        configuration.reconnectTimeout = .milliseconds(100)
        let redis = RedisClient(configuration: configuration)
        defer { redis.close() }

        let start = ContinuousClock.now
        let error = await #expect(throws: RedisError.self) { try await redis.send("PING") }
        #expect(ContinuousClock.now - start < .seconds(2))
        guard case .connectFailed = error else {
            Issue.record("expected connectFailed, got \(String(describing: error))")
            return
        }
        #expect(error?.isConnectionError == true)

        // A pipeline and a blocking connection fail the same way.
        await #expect(throws: RedisError.self) { try await redis.pipeline([["PING"], ["PING"]]) }
        let blocking = redis.makeBlockingConnection()
        defer { blocking.close() }
        await #expect(throws: RedisError.self) { try await blocking.send(["PING"]) }
    }

    @Test func unixSocket() async throws {
        let socketPath = FileManager.default.temporaryDirectory.appendingPathComponent("rct-\(UUID().uuidString).sock").path
        defer { try? FileManager.default.removeItem(atPath: socketPath) }  // SIGKILL leaves it behind
        let server = try await RedisServerProcess.start(extraArguments: ["--unixsocket", socketPath])
        defer { server.stop() }
        let redis = try RedisClient(url: "unix://\(socketPath)?db=4")
        defer { redis.close() }
        let info = try await redis.send("CLIENT", "INFO").string ?? ""
        #expect(info.contains(" db=4 "))
        #expect(info.contains("addr=\(socketPath)") || info.contains("laddr=\(socketPath)") || info.contains("flags=U"))
    }
}
