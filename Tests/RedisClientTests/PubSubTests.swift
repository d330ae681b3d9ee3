import Foundation
import RedisClient
import Testing

@Suite("Pub/sub", .timeLimit(.minutes(1)))
struct PubSubTests {
    /// Sharded pub/sub (SSUBSCRIBE/SPUBLISH) works on a standalone server too, channels of
    /// different slots on one subscriber included.
    @Test func shardChannelsOfAnySlot() async throws {
        let redis = try TestRedis.client()
        defer { redis.close() }
        let prefix = TestRedis.prefix()
        let channels = ["{\(prefix)-a}:nudge", "{\(prefix)-b}:nudge", "{\(prefix)-c}:nudge"]
        #expect(Set(channels.map(ClusterSlot.of)).count == 3)
        let subscriber = redis.makeShardedSubscriber()
        defer { subscriber.close() }
        try await subscriber.ssubscribe(channels)
        try await withRecordedEvents(of: subscriber) { recorder in
            for channel in channels { #expect(try await redis.send("SPUBLISH", channel, "hi \(channel)") == .integer(1)) }
            try await waitUntil("a message per channel") { recorder.messages.count >= 3 }
            #expect(Set(recorder.messages.map(\.channel)) == Set(channels))
            #expect(recorder.messages.allSatisfy { $0.text == "hi \($0.channel)" })
            try await subscriber.sunsubscribe([channels[0]])
            #expect(try await redis.send("SPUBLISH", channels[0], "gone") == .integer(0))
            #expect(try await redis.send("SPUBLISH", channels[1], "still") == .integer(1))
        }
    }

    @Test func textAndBinaryMessages() async throws {
        let redis = try TestRedis.client()
        defer { redis.close() }
        let channel = TestRedis.prefix()
        let subscriber = redis.makeSubscriber()
        defer { subscriber.close() }
        try await subscriber.subscribe([channel])

        try await withRecordedEvents(of: subscriber) { recorder in
            #expect(try await redis.send("PUBLISH", channel, "héllo") == .integer(1))
            let binary: [UInt8] = [0, 13, 10, 0xFF, 0, 0x2A, 13, 10]
            let published = try await redis.send(
                RedisCommand(bytes: [Array("PUBLISH".utf8), Array(channel.utf8), binary]))
            #expect(published == .integer(1))

            try await waitUntil("both messages") { recorder.messages.count >= 2 }
            let messages = recorder.messages
            #expect(messages.count == 2)
            #expect(messages.first?.text == "héllo")
            #expect(messages.first?.channel == channel)
            #expect(messages.first?.pattern == nil)
            #expect(messages.last?.payload == binary)
        }
    }

    @Test func patternSubscription() async throws {
        let redis = try TestRedis.client()
        defer { redis.close() }
        let prefix = TestRedis.prefix()
        let subscriber = redis.makeSubscriber()
        defer { subscriber.close() }
        try await subscriber.psubscribe(["\(prefix):*"])

        try await withRecordedEvents(of: subscriber) { recorder in
            #expect(try await redis.send("PUBLISH", "\(prefix):a", "1") == .integer(1))
            #expect(try await redis.send("PUBLISH", "\(prefix)-other", "no") == .integer(0))
            #expect(try await redis.send("PUBLISH", "\(prefix):b", "2") == .integer(1))
            try await waitUntil("both pattern messages") { recorder.messages.count >= 2 }
            let messages = recorder.messages
            #expect(messages.map(\.channel) == ["\(prefix):a", "\(prefix):b"])
            #expect(messages.map(\.pattern) == ["\(prefix):*", "\(prefix):*"])
            #expect(messages.map(\.text) == ["1", "2"])
        }

        try await subscriber.punsubscribe(["\(prefix):*"])
        #expect(try await redis.send("PUBLISH", "\(prefix):a", "gone") == .integer(0))
    }

    @Test func unsubscribe() async throws {
        let redis = try TestRedis.client()
        defer { redis.close() }
        let prefix = TestRedis.prefix()
        let subscriber = redis.makeSubscriber()
        defer { subscriber.close() }
        try await subscriber.subscribe(["\(prefix):1", "\(prefix):2"])
        try await withRecordedEvents(of: subscriber) { recorder in
            #expect(try await redis.send("PUBLISH", "\(prefix):1", "a") == .integer(1))
            try await subscriber.unsubscribe(["\(prefix):1"])
            #expect(try await redis.send("PUBLISH", "\(prefix):1", "b") == .integer(0))
            #expect(try await redis.send("PUBLISH", "\(prefix):2", "c") == .integer(1))
            try await waitUntil("the messages before and after unsubscribing") { recorder.messages.count >= 2 }
            #expect(recorder.messages.map(\.text) == ["a", "c"])
            #expect(recorder.messages.map(\.channel) == ["\(prefix):1", "\(prefix):2"])
        }
        try await subscriber.unsubscribe(["\(prefix):2"])
        #expect(try await redis.send("PUBLISH", "\(prefix):2", "d") == .integer(0))
        // Subscribing again after everything was dropped works on the same subscriber.
        try await subscriber.subscribe(["\(prefix):3"])
        #expect(try await redis.send("PUBLISH", "\(prefix):3", "e") == .integer(1))
    }

    @Test func resubscribesAfterTheServerDropsTheSubscriber() async throws {
        let redis = try TestRedis.client()
        defer { redis.close() }
        let prefix = TestRedis.prefix()
        let name = "rct-\(UUID().uuidString)"
        let subscriber = redis.makeSubscriber(name: name)
        defer { subscriber.close() }
        try await subscriber.subscribe(["\(prefix):channel"])
        try await subscriber.psubscribe(["\(prefix):pattern:*"])

        try await withRecordedEvents(of: subscriber) { recorder in
            guard let id = try await redis.client(named: name)?["id"] else {
                throw TestSetupError(description: "subscriber \(name) not in CLIENT LIST")
            }
            #expect(try await redis.send("CLIENT", "KILL", "ID", id) == .integer(1))
            try await waitUntil("the subscriber to resubscribe") { recorder.resubscriptions == 1 }

            // Once `.resubscribed` is seen, both subscriptions are live again.
            #expect(try await redis.send("PUBLISH", "\(prefix):channel", "after") == .integer(1))
            #expect(try await redis.send("PUBLISH", "\(prefix):pattern:x", "pattern after") == .integer(1))
            try await recorder.waitForMessage { $0.text == "after" }
            try await recorder.waitForMessage { $0.text == "pattern after" && $0.pattern == "\(prefix):pattern:*" }
            let newID = try await redis.client(named: name)?["id"]
            #expect(newID != nil && newID != id)
        }
    }

    @Test func closingFinishesTheEventStream() async throws {
        let redis = try TestRedis.client()
        defer { redis.close() }
        let subscriber = redis.makeSubscriber()
        try await subscriber.subscribe([TestRedis.prefix()])
        subscriber.close()
        var count = 0
        for await _ in subscriber.events { count += 1 }
        #expect(count == 0)
        await #expect(throws: RedisError.closed) { try await subscriber.subscribe(["x"]) }
    }
}
