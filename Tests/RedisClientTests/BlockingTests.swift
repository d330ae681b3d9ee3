import Foundation
import RedisClient
import Testing

@Suite("Blocking commands", .timeLimit(.minutes(1)))
struct BlockingTests {
    @Test func blockingPopIsWokenByAnotherConnection() async throws {
        let redis = try TestRedis.client()
        defer { redis.close() }
        let key = TestRedis.prefix()
        let name = "rct-\(UUID().uuidString)"
        let blocking = redis.makeBlockingConnection(name: name)
        defer { blocking.close() }

        async let popped = blocking.send(["BZPOPMIN", key, "10"], timeout: .seconds(15))
        try await redis.waitUntilBlocked(name, in: "bzpopmin")
        // Ordinary commands are not held up by the blocked connection.
        #expect(try await redis.send("PING") == .status("PONG"))
        #expect(try await redis.send("ZADD", key, "7", "member") == .integer(1))
        #expect(try await popped == .array([.bulk(Array(key.utf8)), .bulk(Array("member".utf8)), .bulk(Array("7".utf8))]))
        // A timed-out blocking pop is the nil reply.
        #expect(try await blocking.send(["BZPOPMIN", key, "0.01"], timeout: .seconds(5)) == .null)
    }

    @Test func cancellingABlockedPopReturnsPromptly() async throws {
        let redis = try TestRedis.client()
        defer { redis.close() }
        let key = TestRedis.prefix()
        let name = "rct-\(UUID().uuidString)"
        let blocking = redis.makeBlockingConnection(name: name)
        defer { blocking.close() }

        let task = Task { try await blocking.send(["BZPOPMIN", key, "30"], timeout: .seconds(40)) }
        try await redis.waitUntilBlocked(name, in: "bzpopmin")
        let start = ContinuousClock.now
        task.cancel()
        let result = await task.result
        #expect(ContinuousClock.now - start < .seconds(3))
        switch result {
        case .success(let reply):
            Issue.record("a cancelled BZPOPMIN returned \(reply)")
        case .failure(let error):
            #expect(error is CancellationError || error is RedisError, "\(error)")
        }

        // The connection works again, and the abandoned pop no longer waits in Redis: a member
        // added now stays in the set.
        #expect(try await blocking.send(["PING"]) == .status("PONG"))
        try await redis.send("ZADD", key, "1", "kept")
        #expect(try await redis.send("ZCARD", key) == .integer(1))
        #expect(try await blocking.send(["BZPOPMIN", key, "1"], timeout: .seconds(5)).array?.count == 3)
    }

    @Test func cancellationBeforeTheCommandIsSentIsNotLost() async throws {
        let redis = try TestRedis.client()
        defer { redis.close() }
        let key = TestRedis.prefix()
        let blocking = redis.makeBlockingConnection()
        defer { blocking.close() }
        // Cancel at once, at every point between the call and the command reaching Redis: each
        // must end promptly, not after the 30 s block.
        let start = ContinuousClock.now
        for _ in 0..<50 {
            let task = Task { try await blocking.send(["BZPOPMIN", key, "30"], timeout: .seconds(40)) }
            task.cancel()
            if case .success(let reply) = await task.result {
                Issue.record("a cancelled BZPOPMIN returned \(reply)")
            }
        }
        #expect(ContinuousClock.now - start < .seconds(10))
        #expect(try await blocking.send(["PING"]) == .status("PONG"))
    }

    @Test func lateCancellationDoesNotAbortTheNextCommand() async throws {
        let redis = try TestRedis.client()
        defer { redis.close() }
        let key = TestRedis.prefix()
        let blocking = redis.makeBlockingConnection()
        defer { blocking.close() }
        for index in 0..<50 {
            // The task is cancelled after its reply has arrived; that must not leak to the next
            // command on the connection.
            let task = Task { try await blocking.send(["ECHO", "\(index)"]) }
            _ = try await task.value
            task.cancel()
            try await redis.send("ZADD", key, "1", "m\(index)")
            #expect(try await blocking.send(["BZPOPMIN", key, "5"], timeout: .seconds(10)).array?.count == 3)
        }
    }
}
