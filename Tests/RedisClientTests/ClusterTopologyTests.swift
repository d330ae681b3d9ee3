@testable import RedisClient
import Testing

/// The slot map is read from a server's reply: a malformed one never traps nor hangs.
@Suite struct ClusterTopologyTests {
    @Test func slotsRepliesAreReadAndBadRangesAreClamped() throws {
        let node = RedisReply.array([.bulk(Array("10.0.0.1".utf8)), .integer(7001), .bulk(Array("id".utf8))])
        let reply = RedisReply.array([
            .array([.integer(0), .integer(8191), node]),
            .array([.integer(8192), .integer(Int.max), .array([.bulk([]), .integer(7002)])]),  // past the last slot
        ])
        let topology = try #require(ClusterTopology.parse(slots: reply, defaultHost: "seed"))
        #expect(topology.owner(of: 0) == NodeAddress(host: "10.0.0.1", port: 7001))
        #expect(topology.owner(of: 16383) == NodeAddress(host: "seed", port: 7002), "empty host: the seed's")
        #expect(topology.coveredSlots == 16384)
        var moved = topology
        moved.assign(Int.min...(-1), to: NodeAddress(host: "x", port: 1))  // nothing in range
        #expect(moved == topology, "nothing assigned, no master added")
        #expect(ClusterTopology.parse(slots: .array([.array([.integer(5), .integer(1), node])]), defaultHost: "s") == nil)
    }

    @Test func redirectionsAreParsedOrIgnored() {
        #expect(ClusterRouter.Redirect("MOVED 3999 127.0.0.1:6381", defaultHost: "h") == .moved(slot: 3999, NodeAddress(host: "127.0.0.1", port: 6381)))
        #expect(ClusterRouter.Redirect("ASK 1 :6380", defaultHost: "h") == .ask(slot: 1, NodeAddress(host: "h", port: 6380)))
        #expect(ClusterRouter.Redirect("TRYAGAIN Multiple keys request during rehashing of slot", defaultHost: "h") == .retryLater)
        #expect(ClusterRouter.Redirect("MOVED 99999 127.0.0.1:6381", defaultHost: "h") == nil)
        #expect(ClusterRouter.Redirect("MOVED 1 127.0.0.1:99999999999999999999", defaultHost: "h") == nil)
        #expect(ClusterRouter.Redirect("ERR unknown", defaultHost: "h") == nil)
    }
}
