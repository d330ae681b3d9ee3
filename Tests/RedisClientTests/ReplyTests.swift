import Foundation
import RedisClient
import Testing

@Suite("Replies", .timeLimit(.minutes(1)))
struct ReplyTests {
    @Test func statusReply() async throws {
        let redis = try TestRedis.client()
        defer { redis.close() }
        let key = TestRedis.prefix()
        #expect(try await redis.send("SET", key, "v") == .status("OK"))
        #expect(try await redis.send("PING") == .status("PONG"))
    }

    @Test func errorReplyIsThrownBySend() async throws {
        let redis = try TestRedis.client()
        defer { redis.close() }
        let key = TestRedis.prefix()
        try await redis.send("SET", key, "not a number")
        let error = await #expect(throws: RedisError.self) { try await redis.send("INCR", key) }
        guard case .server(let message) = error else {
            Issue.record("expected a server error, got \(String(describing: error))")
            return
        }
        #expect(message.hasPrefix("ERR"))
        #expect(error?.isConnectionError == false)

        let unknown = await #expect(throws: RedisError.self) { try await redis.send("NO-SUCH-COMMAND") }
        #expect(unknown.map { "\($0)" }?.contains("unknown command") == true)
        // The connection is still in step after an error reply.
        #expect(try await redis.send("GET", key).string == "not a number")
    }

    @Test func integerReply() async throws {
        let redis = try TestRedis.client()
        defer { redis.close() }
        let key = TestRedis.prefix()
        #expect(try await redis.send("INCRBY", key, "41") == .integer(41))
        #expect(try await redis.send("INCRBY", key, "-100") == .integer(-59))
        #expect(try await redis.send("EXISTS", key).int == 1)
    }

    @Test func bulkReplyIsBinarySafe() async throws {
        let redis = try TestRedis.client()
        defer { redis.close() }
        let key = TestRedis.prefix()
        let value: [UInt8] = [0, 13, 10, 0x24, 0x2A, 0xFF, 0xFE, 0, 10, 13, 0x80] + Array("tail\r\n".utf8)
        try await redis.send(RedisCommand(bytes: [Array("SET".utf8), Array(key.utf8), value]))
        let reply = try await redis.send("GET", key)
        #expect(reply == .bulk(value))
        #expect(reply.bytes == value)
        #expect(try await redis.send("STRLEN", key) == .integer(value.count))

        // A binary key works too.
        let binaryKey = Array(key.utf8) + [0, 13, 10]
        try await redis.send(RedisCommand(bytes: [Array("SET".utf8), binaryKey, [1, 2, 3]]))
        #expect(try await redis.send(RedisCommand(bytes: [Array("GET".utf8), binaryKey])) == .bulk([1, 2, 3]))

        // Empty and large bulk strings.
        try await redis.send("SET", key, "")
        #expect(try await redis.send("GET", key) == .bulk([]))
        let large = String(repeating: "0123456789", count: 200_000)
        try await redis.send("SET", key, large)
        #expect(try await redis.send("GET", key).string == large)
    }

    @Test func argumentLengthsAtDecimalBoundaries() async throws {
        let redis = try TestRedis.client()
        defer { redis.close() }
        let key = TestRedis.prefix()
        let lengths = [0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 1001, 9999, 10000, 65536]
        var commands: [RedisCommand] = []
        for length in lengths {
            let value = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            commands.append(RedisCommand(bytes: [Array("SET".utf8), Array("\(key):\(length)".utf8), value]))
            commands.append(RedisCommand("STRLEN", "\(key):\(length)"))
            commands.append(RedisCommand("GET", "\(key):\(length)"))
        }
        // 12 arguments: a two-digit argument count.
        commands.append(RedisCommand(["RPUSH", "\(key):list"] + (0..<10).map(String.init)))
        let replies = try await redis.pipeline(commands)
        for (index, length) in lengths.enumerated() {
            let value = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            #expect(replies[3 * index] == .status("OK"))
            #expect(replies[3 * index + 1] == .integer(length), "length \(length)")
            #expect(replies[3 * index + 2] == .bulk(value), "length \(length)")
        }
        #expect(replies.last == .integer(10))
    }

    @Test func nilReply() async throws {
        let redis = try TestRedis.client()
        defer { redis.close() }
        let key = TestRedis.prefix()
        let reply = try await redis.send("GET", key)
        #expect(reply == .null)
        #expect(reply.isNull)
        #expect(reply.string == nil)
    }

    @Test func nestedArrayReply() async throws {
        let redis = try TestRedis.client()
        defer { redis.close() }
        let key = TestRedis.prefix()
        try await redis.send("SET", "\(key):a", "1")
        #expect(try await redis.send("MGET", "\(key):a", "\(key):missing") == .array([.bulk(Array("1".utf8)), .null]))
        #expect(try await redis.send("LRANGE", "\(key):none", "0", "-1") == .array([]))

        let reply = try await redis.send(
            "EVAL", "return {1, 'two', {3, {'four', redis.status_reply('FIVE')}}, {}}", "0")
        #expect(reply == .array([
            .integer(1),
            .bulk(Array("two".utf8)),
            .array([.integer(3), .array([.bulk(Array("four".utf8)), .status("FIVE")])]),
            .array([]),
        ]))

        // A real command with nested arrays: XRANGE entries are [id, [field, value, …]].
        let id = try await redis.send("XADD", "\(key):stream", "*", "field", "value", "other", "x").string
        let entries = try await redis.send("XRANGE", "\(key):stream", "-", "+").array
        #expect(entries?.count == 1)
        #expect(entries?.first?.array?.first?.string == id)
        #expect(entries?.first?.array?.last?.stringDictionary == ["field": "value", "other": "x"])
    }

    @Test func accessors() throws {
        #expect(RedisReply.bulk(Array("42".utf8)).int == 42)
        #expect(RedisReply.bulk(Array("2.5".utf8)).double == 2.5)
        #expect(RedisReply.integer(7).string == "7")
        #expect(RedisReply.integer(7).double == 7)
        #expect(RedisReply.status("OK").bytes == Array("OK".utf8))
        #expect(RedisReply.null.int == nil)
        #expect(RedisReply.array([]).string == nil)
        #expect(RedisReply.error("ERR x").errorMessage == "ERR x")
        #expect(RedisReply.integer(1).errorMessage == nil)
        #expect(throws: RedisError.server("ERR x")) { try RedisReply.error("ERR x").throwingError() }
        #expect(try RedisReply.integer(1).throwingError() == .integer(1))
        let pairs = RedisReply.array([.bulk(Array("a".utf8)), .bulk(Array("1".utf8)), .bulk(Array("b".utf8))])
        #expect(pairs.stringDictionary == ["a": "1"])
    }

    @Test func commandDescription() {
        var command = RedisCommand("SET", "key")
        command.append(5)
        command.append(bytes: [0x41])
        command.append(contentsOf: ["x", "y"])
        #expect(command.name == "SET")
        #expect(command.arguments.count == 6)
        #expect(command.description == "SET key 5 A …")
        #expect(RedisCommand("get", "k").name == "GET")
        let literal: RedisCommand = ["PING"]
        #expect(literal == RedisCommand("PING"))
    }
}
