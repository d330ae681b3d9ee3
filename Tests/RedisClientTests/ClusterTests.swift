import Foundation
import RedisClient
import Testing

/// The client on a real Redis Cluster (issue 10): `scripts/test --cluster` starts a local
/// 3-master cluster with a replica per master and runs these with `BATON_TEST_CLUSTER=1` and
/// `BATON_REDIS_URL` set to its seeds. They change the cluster (slot migrations, failovers), so
/// they run one at a time.
@Suite("Redis Cluster", .serialized, .enabled(if: ClusterAdmin.enabled))
struct ClusterTests {
    let admin: ClusterAdmin
    let tag = "ct-\(UUID().uuidString.prefix(8).lowercased())"

    init() async throws {
        admin = try await ClusterAdmin.connect()
    }

    @Test func commandsAndPipelinesAreRoutedByTheirKeysWithRepliesInOrder() async throws {
        let client = try TestRedis.client()
        defer { client.close() }
        #expect(try await client.isCluster())
        // Keys without a common tag: spread over every master.
        let keys = (0..<300).map { "\(tag):spread:\($0)" }
        #expect(Set(try await admin.masters(serving: keys)).count == 3)
        let sets = try await client.pipeline(keys.map { RedisCommand("SET", $0, "v-\($0)") })
        #expect(sets.allSatisfy { $0 == .status("OK") })
        let mixed = keys.flatMap { [RedisCommand("GET", $0), RedisCommand("STRLEN", $0)] }
        let replies = try await client.pipeline(mixed)
        for (index, key) in keys.enumerated() {
            #expect(replies[2 * index].string == "v-\(key)")
            #expect(replies[2 * index + 1].int == "v-\(key)".utf8.count)
        }
        #expect(try await client.send("GET", keys[7]).string == "v-\(keys[7])")
        // Every key really is on the master that serves its slot.
        for key in keys.prefix(20) {
            let owner = try await admin.master(serving: key)
            #expect(try await admin.run(owner, "GET", key).string == "v-\(key)")
        }
    }

    @Test func aCommandAcrossSlotsIsRefusedBeforeItIsSent() async throws {
        let client = try TestRedis.client()
        defer { client.close() }
        let a = "\(tag):a", b = "\(tag):b-x"
        #expect(ClusterSlot.of(a) != ClusterSlot.of(b))
        try await client.send("SET", a, "1")
        let error = await #expect(throws: RedisError.self) { try await client.send("DEL", a, b) }
        guard case .crossSlot(let message) = error else {
            Issue.record("expected crossSlot, got \(String(describing: error))")
            return
        }
        #expect(message.contains("DEL") && message.contains(a))
        #expect(try await client.send("GET", a).string == "1", "nothing was sent")
        // A pipeline with one such command sends none of it.
        await #expect(throws: RedisError.self) {
            _ = try await client.pipeline([RedisCommand("SET", a, "2"), RedisCommand("MGET", a, b)])
        }
        #expect(try await client.send("GET", a).string == "1")
        // Keys sharing a hash tag may go together.
        #expect(try await client.send("MSET", "{\(tag)}:x", "1", "{\(tag)}:y", "2") == .status("OK"))
    }

    @Test func scriptsAreLoadedPerNode() async throws {
        let client = try TestRedis.client()
        defer { client.close() }
        let script = RedisScript(name: "incr-by", source: "return redis.call('INCRBY', KEYS[1], ARGV[1])")
        let other = RedisScript(name: "get", source: "return redis.call('GET', KEYS[1])")
        let keys = (0..<60).map { "\(tag):script:\($0)" }
        for round in 1...2 {
            // Each node's script cache is emptied: every node answers NOSCRIPT once.
            for master in try await admin.masters() { try await admin.run(master, "SCRIPT", "FLUSH") }
            let calls = keys.flatMap { [RedisScriptCall(script, keys: [$0], arguments: ["5"]), RedisScriptCall(other, keys: [$0], arguments: [])] }
            let replies = try await client.evalPipeline(calls)
            for index in keys.indices {
                #expect(replies[2 * index].int == 5 * round)
                #expect(replies[2 * index + 1].string == String(5 * round))
            }
        }
    }

    @Test func aMigratedSlotIsFollowedWithMovedAndAskOnTheWay() async throws {
        let client = try TestRedis.client()
        defer { client.close() }
        let keyA = "{\(tag)}:a", keyB = "{\(tag)}:b"
        try await client.send("SET", keyA, "A")
        try await client.send("SET", keyB, "B")
        let slot = ClusterSlot.of(keyA)
        let source = try await admin.master(serving: keyA)
        let target = try #require(try await admin.masters().first { $0 != source })

        // Migration under way: keyA moved, keyB still at the source — ASK for one, not the other.
        try await admin.beginMigration(slot: slot, from: source, to: target)
        try await admin.migrate([keyA], from: source, to: target)
        #expect(try await client.send("GET", keyA).string == "A", "followed ASK to the importing node")
        #expect(try await client.send("GET", keyB).string == "B", "served by the migrating node")
        let during = try await client.pipeline([RedisCommand("GET", keyA), RedisCommand("GET", keyB), RedisCommand("GET", "\(tag):elsewhere")])
        #expect(during == [.bulk(Array("A".utf8)), .bulk(Array("B".utf8)), .null])

        // Done: the slot belongs to the target; the client's map still says source → MOVED.
        try await admin.migrate(try await admin.keys(inSlot: slot, on: source), from: source, to: target)
        try await admin.finishMigration(slot: slot, to: target)
        #expect(try await client.send("GET", keyB).string == "B")
        #expect(try await client.pipeline([RedisCommand("GET", keyA), RedisCommand("SET", keyB, "B2")]) == [.bulk(Array("A".utf8)), .status("OK")])
        let blocking = client.makeBlockingConnection()
        defer { blocking.close() }
        try await client.send("RPUSH", "{\(tag)}:list", "x")
        #expect(try await blocking.send(RedisCommand("BLPOP", "{\(tag)}:list", "1"), timeout: .seconds(5)).array?.last?.string == "x")
        #expect(try await admin.master(serving: keyA) == target)
    }

    @Test func aFailoverInTheMiddleOfPipelinesLosesNoCommand() async throws {
        let client = try TestRedis.client()
        defer { client.close() }
        let key = "{\(tag)}:counter"
        let master = try await admin.master(serving: key)
        let replica = try #require(try await admin.replica(of: master))
        let writers = Task {
            var sent = 0
            while !Task.isCancelled && sent < 20_000 {
                let replies = try await client.pipeline((0..<20).map { _ in RedisCommand("INCR", key) } + [RedisCommand("INCR", "\(tag):other")])
                #expect(replies.allSatisfy { $0.int != nil }, "\(replies.filter { $0.int == nil })")
                sent += 20
                if sent == 2_000 { try await admin.run(replica, "CLUSTER", "FAILOVER") }
            }
            return sent
        }
        let sent = try await writers.value
        #expect(try await client.send("GET", key).int == sent)
        try await admin.waitUntil("the replica became the master of the slot, and the old master a replica") {
            let promoted = try await admin.master(serving: key) == replica
            let demoted = try await admin.run(master, "ROLE").array?.first?.string == "slave"
            return promoted && demoted
        }
    }

    /// Shard channels are subscribed on the node of their slot, so `SPUBLISH` there counts its
    /// subscriber; after the slot migrates the subscriber follows the channel to its new node.
    @Test func shardChannelsAreSubscribedWhereTheirSlotLivesAndFollowAMigration() async throws {
        let client = try TestRedis.client()
        defer { client.close() }
        let channels = (0..<12).map { "{\(tag)-\($0)}:nudge" }
        #expect(Set(try await admin.masters(serving: channels)).count == 3)
        let subscriber = client.makeShardedSubscriber(name: "cluster-test-sharded")
        defer { subscriber.close() }
        try await subscriber.ssubscribe(channels)
        try await withRecordedEvents(of: subscriber) { recorder in
            for channel in channels {
                #expect(try await client.send("SPUBLISH", channel, "one") == .integer(1), "\(channel)")
            }
            try await waitUntil("a message per channel") { recorder.messages.count >= channels.count }

            // Move one channel's slot: the node ends that subscription, the subscriber follows.
            let moved = channels[0]
            let slot = ClusterSlot.of(moved)
            let source = try await admin.master(serving: moved)
            let target = try #require(try await admin.masters().first { $0 != source })
            try await admin.beginMigration(slot: slot, from: source, to: target)
            try await admin.migrate(try await admin.keys(inSlot: slot, on: source), from: source, to: target)
            try await admin.finishMigration(slot: slot, to: target)
            try await waitUntil("the subscriber followed the channel", timeout: .seconds(15)) {
                try await admin.run(target, "SPUBLISH", moved, "two").int == 1
            }
            try await waitUntil("the message on the new node") { recorder.messages.contains { $0.text == "two" } }
            #expect(recorder.resubscriptions >= 1)
            #expect(try await client.send("SPUBLISH", channels[1], "three") == .integer(1))
        }
    }

    @Test func blockingCommandsWaitOnTheNodeOfTheirKey() async throws {
        let client = try TestRedis.client()
        defer { client.close() }
        let blocking = client.makeBlockingConnection(name: "cluster-test")
        defer { blocking.close() }
        for index in 0..<6 {
            let list = "\(tag):queue:\(index)"
            async let popped = blocking.send(RedisCommand("BLPOP", list, "5"), timeout: .seconds(10))
            try await Task.sleep(for: .milliseconds(50))
            try await client.send("RPUSH", list, "item-\(index)")
            #expect(try await popped.array?.last?.string == "item-\(index)")
        }
        await #expect(throws: RedisError.self) {
            try await blocking.send(RedisCommand("BLPOP", "\(tag):one", "\(tag):two-x", "1"))
        }
    }
}

/// Looks at and changes the test cluster through connections to single nodes.
struct ClusterAdmin: Sendable {
    static let enabled = ProcessInfo.processInfo.environment["BATON_TEST_CLUSTER"] == "1"

    let seed: RedisConfiguration

    static func connect() async throws -> ClusterAdmin {
        ClusterAdmin(seed: try TestRedis.configuration())
    }

    /// Sends one command to one node (no routing), on a connection of its own.
    @discardableResult
    func run(_ address: NodeAddress, _ arguments: [String]) async throws -> RedisReply {
        var configuration = seed
        configuration.endpoint = .tcp(host: address.host, port: address.port)
        let connection = RedisConnection(configuration: configuration)
        defer { connection.close() }
        return try await connection.send(RedisCommand(arguments))
    }

    @discardableResult
    func run(_ address: NodeAddress, _ arguments: String...) async throws -> RedisReply {
        try await run(address, arguments)
    }

    struct Node {
        var id: String
        var address: NodeAddress
        var isMaster: Bool
        var masterID: String?
        var slots: [ClosedRange<Int>]
    }

    /// `CLUSTER NODES` as seen by the seed.
    func nodes() async throws -> [Node] {
        let connection = RedisConnection(configuration: seed)
        defer { connection.close() }
        let text = try await connection.send(RedisCommand("CLUSTER", "NODES")).string ?? ""
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 8 else { return nil }
            let hostPort = fields[1].split(separator: "@")[0]
            guard let colon = hostPort.lastIndex(of: ":"), let port = Int(hostPort[hostPort.index(after: colon)...]) else { return nil }
            let flags = fields[2].split(separator: ",")
            if flags.contains("fail") { return nil }
            let slots: [ClosedRange<Int>] = fields.dropFirst(8).compactMap { range in
                if range.hasPrefix("[") { return nil }
                let bounds = range.split(separator: "-").compactMap { Int($0) }
                return bounds.count == 2 ? bounds[0]...bounds[1] : bounds.first.map { $0...$0 }
            }
            return Node(id: String(fields[0]), address: NodeAddress(host: String(hostPort[..<colon]), port: port),
                        isMaster: flags.contains("master"), masterID: fields[3] == "-" ? nil : String(fields[3]), slots: slots)
        }
    }

    /// The nodes that are masters by their own word (`ROLE`): right after a failover the
    /// seed's `CLUSTER NODES` may still call the demoted node a master.
    func masterNodes() async throws -> [Node] {
        var masters: [Node] = []
        for node in try await nodes() where node.isMaster {
            if (try? await run(node.address, "ROLE"))?.array?.first?.string == "master" { masters.append(node) }
        }
        return masters
    }

    func masters() async throws -> [NodeAddress] {
        try await masterNodes().map(\.address)
    }

    func master(serving key: String) async throws -> NodeAddress {
        let slot = ClusterSlot.of(key)
        guard let node = try await masterNodes().first(where: { $0.slots.contains { $0.contains(slot) } }) else {
            throw TestSetupError(description: "no master serves slot \(slot)")
        }
        return node.address
    }

    func masters(serving keys: [String]) async throws -> [NodeAddress] {
        let all = try await masterNodes()
        return keys.compactMap { key in
            let slot = ClusterSlot.of(key)
            return all.first { $0.slots.contains { $0.contains(slot) } }?.address
        }
    }

    func replica(of master: NodeAddress) async throws -> NodeAddress? {
        let all = try await nodes()
        guard let id = all.first(where: { $0.address == master })?.id else { return nil }
        return all.first { $0.masterID == id }?.address
    }

    private func id(of address: NodeAddress) async throws -> String {
        guard let id = try await nodes().first(where: { $0.address == address })?.id else {
            throw TestSetupError(description: "no node at \(address)")
        }
        return id
    }

    func beginMigration(slot: Int, from source: NodeAddress, to target: NodeAddress) async throws {
        let sourceID = try await id(of: source), targetID = try await id(of: target)
        try await run(target, "CLUSTER", "SETSLOT", String(slot), "IMPORTING", sourceID)
        try await run(source, "CLUSTER", "SETSLOT", String(slot), "MIGRATING", targetID)
    }

    func keys(inSlot slot: Int, on address: NodeAddress) async throws -> [String] {
        (try await run(address, "CLUSTER", "GETKEYSINSLOT", String(slot), "1000").array ?? []).compactMap(\.string)
    }

    func migrate(_ keys: [String], from source: NodeAddress, to target: NodeAddress) async throws {
        if keys.isEmpty { return }
        try await run(source, ["MIGRATE", target.host, String(target.port), "", "0", "5000", "KEYS"] + keys)
    }

    /// Gives the slot to `target` on every master (so no node keeps the old owner).
    func finishMigration(slot: Int, to target: NodeAddress) async throws {
        let targetID = try await id(of: target)
        try await run(target, "CLUSTER", "SETSLOT", String(slot), "NODE", targetID)
        for master in try await masters() where master != target {
            try await run(master, "CLUSTER", "SETSLOT", String(slot), "NODE", targetID)
        }
    }

    func waitUntil(_ what: String, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestSetupError(description: "timed out waiting until \(what)")
    }
}
