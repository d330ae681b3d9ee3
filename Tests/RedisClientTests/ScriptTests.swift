import Foundation
import RedisClient
import Testing

/// Script tests flush the script cache, so they run on a Redis of their own: a flush on the
/// shared one would make other suites' scripts reload at random moments.
@Suite("Scripts", .timeLimit(.minutes(1)))
struct ScriptTests {
    static let getOrZero = RedisScript(name: "getOrZero", source: """
        local value = redis.call('GET', KEYS[1])
        if not value then return 0 end
        return value
        """)
    static let add = RedisScript(name: "add", source: "return redis.call('INCRBY', KEYS[1], ARGV[1])")
    static let fail = RedisScript(name: "fail", source: "return redis.error_reply('BATON_TEST boom ' .. ARGV[1])")
    static let wrongType = RedisScript(name: "wrongType", source: "return redis.call('LPUSH', KEYS[1], 'x')")

    @Test func reloadsAfterScriptFlush() async throws {
        let server = try await RedisServerProcess.start()
        defer { server.stop() }
        let redis = try RedisClient(url: server.url)
        defer { redis.close() }
        let key = TestRedis.prefix()

        #expect(try await redis.eval(Self.getOrZero, keys: [key], arguments: []) == .integer(0))
        #expect(try await redis.eval(Self.add, keys: [key], arguments: ["5"]) == .integer(5))
        #expect(try await redis.eval(Self.getOrZero, keys: [key], arguments: []).string == "5")
        let listed = try await redis.send("SCRIPT", "EXISTS", sha1Of: Self.add)
        #expect(listed == .array([.integer(1)]))

        // After a flush every cached SHA answers NOSCRIPT: eval reloads without the caller noticing.
        try await redis.send("SCRIPT", "FLUSH")
        #expect(try await redis.eval(Self.add, keys: [key], arguments: ["1"]) == .integer(6))

        // And so does a pipeline of calls, some of whose scripts were loaded again and some not.
        try await redis.send("SCRIPT", "FLUSH")
        let calls = [
            RedisScriptCall(Self.add, keys: [key], arguments: ["10"]),
            RedisScriptCall(Self.getOrZero, keys: [key], arguments: []),
            RedisScriptCall(Self.fail, keys: [key], arguments: ["in place"]),
            RedisScriptCall(Self.add, keys: [key], arguments: ["-16"]),
        ]
        let replies = try await redis.evalPipeline(calls)
        #expect(replies.count == 4)
        #expect(replies[0] == .integer(16))
        #expect(replies[1].string == "16")
        #expect(replies[2] == .error("BATON_TEST boom in place"))
        #expect(replies[3] == .integer(0))
        #expect(!replies.contains { $0.errorMessage?.hasPrefix("NOSCRIPT") == true })

        #expect(try await redis.evalPipeline([]) == [])
    }

    @Test func reloadKeepsTheOrderOfCalls() async throws {
        let server = try await RedisServerProcess.start()
        defer { server.stop() }
        let redis = try RedisClient(url: server.url)
        defer { redis.close() }
        let key = TestRedis.prefix()
        let pushA = RedisScript(name: "pushA", source: "return redis.call('RPUSH', KEYS[1], 'a' .. ARGV[1])")
        let pushB = RedisScript(name: "pushB", source: "return redis.call('RPUSH', KEYS[1], 'b' .. ARGV[1])")

        // A is known to the client but gone from Redis; B is loaded after the flush.
        try await redis.eval(pushA, keys: [key], arguments: ["0"])
        try await redis.send("SCRIPT", "FLUSH")
        try await redis.eval(pushB, keys: [key], arguments: ["0"])

        let replies = try await redis.evalPipeline([
            RedisScriptCall(pushA, keys: [key], arguments: ["1"]),
            RedisScriptCall(pushB, keys: [key], arguments: ["2"]),
            RedisScriptCall(pushA, keys: [key], arguments: ["3"]),
        ])
        #expect(replies == [.integer(3), .integer(4), .integer(5)])
        let list = try await redis.send("LRANGE", key, "0", "-1").array?.compactMap(\.string)
        #expect(list == ["a0", "b0", "a1", "b2", "a3"])

        // One script only: every call fails NOSCRIPT together and all run again, in order.
        try await redis.send("SCRIPT", "FLUSH")
        let again = try await redis.evalPipeline((4..<7).map { RedisScriptCall(pushA, keys: [key], arguments: [String($0)]) })
        #expect(again == [.integer(6), .integer(7), .integer(8)])
        #expect(try await redis.send("LRANGE", key, "5", "-1").array?.compactMap(\.string) == ["a4", "a5", "a6"])
    }

    @Test func scriptErrorsAreThrown() async throws {
        let redis = try TestRedis.client()
        defer { redis.close() }
        let key = TestRedis.prefix()

        await #expect(throws: RedisError.server("BATON_TEST boom now")) {
            try await redis.eval(Self.fail, keys: [key], arguments: ["now"])
        }

        try await redis.send("SET", key, "string")
        let error = await #expect(throws: RedisError.self) {
            try await redis.eval(Self.wrongType, keys: [key], arguments: [])
        }
        #expect(error.map { "\($0)" }?.contains("WRONGTYPE") == true)

        let broken = RedisScript(name: "broken", source: "return (")
        let compile = await #expect(throws: RedisError.self) {
            try await redis.eval(broken, keys: [], arguments: [])
        }
        guard case .server = compile else {
            Issue.record("expected a server error, got \(String(describing: compile))")
            return
        }
        // The client is still usable.
        #expect(try await redis.eval(Self.getOrZero, keys: [key], arguments: []).string == "string")
    }
}

extension RedisClient {
    /// Sends `arguments` followed by the SHA1 Redis gives `script` (via SCRIPT LOAD, idempotent).
    fileprivate func send(_ arguments: String..., sha1Of script: RedisScript) async throws -> RedisReply {
        let sha = try await send("SCRIPT", "LOAD", script.source).string ?? ""
        return try await send(RedisCommand(arguments + [sha]))
    }
}
