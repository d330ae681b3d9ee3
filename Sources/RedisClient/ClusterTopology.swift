/// Where a Redis node listens.
public struct NodeAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port`, as `MOVED` and `ASK` name a node.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Parses `host:port` (the last colon separates the port; `[v6]:port` too).
    init?(parsing text: Substring, defaultHost: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.init(host: host.isEmpty ? defaultHost : host, port: port)
    }
}

/// Which master serves each of the 16384 slots, as `CLUSTER SHARDS` (Redis ≥ 7.0) or
/// `CLUSTER SLOTS` describe it.
struct ClusterTopology: Sendable, Hashable {
    /// The masters that serve at least one slot.
    private(set) var masters: [NodeAddress] = []
    /// Per slot, the index of its master in ``masters``; -1 while no master serves it.
    private var owners = [Int16](repeating: -1, count: ClusterSlot.count)

    /// The master of a slot.
    func owner(of slot: Int) -> NodeAddress? {
        let index = owners[slot]
        return index < 0 ? nil : masters[Int(index)]
    }

    /// How many slots have a master.
    var coveredSlots: Int { owners.count(where: { $0 >= 0 }) }

    /// Records that `slot` is now served by `address` (a `MOVED` reply said so).
    mutating func assign(_ slots: ClosedRange<Int>, to address: NodeAddress) {
        // The bounds come from a server's reply: clamped, so a bad range can neither trap nor
        // make this loop run for ever.
        let lower = max(slots.lowerBound, 0), upper = min(slots.upperBound, ClusterSlot.count - 1)
        guard lower <= upper else { return }
        let index: Int
        if let known = masters.firstIndex(of: address) {
            index = known
        } else {
            masters.append(address)
            index = masters.count - 1
        }
        for slot in lower...upper { owners[slot] = Int16(index) }
    }

    /// Reads a `CLUSTER SHARDS` reply: per shard, `slots` (start, end, start, end, …) and `nodes`
    /// (field/value lists with `ip`, `endpoint`, `port`, `role`, `health`). Unreachable masters
    /// (health `fail`) are left out. `nil` when the reply has another shape.
    static func parse(shards reply: RedisReply, defaultHost: String) -> ClusterTopology? {
        guard let shards = reply.array else { return nil }
        var topology = ClusterTopology()
        for shard in shards {
            guard let fields = Self.fields(shard), let slots = fields["slots"]?.array, let nodes = fields["nodes"]?.array else {
                return nil
            }
            let master = nodes.compactMap(Self.fields).first {
                $0["role"]?.string == "master" && $0["health"]?.string != "fail"
            }
            guard let master, let port = master["port"]?.int ?? master["port"]?.string.flatMap({ Int($0) }) else { continue }
            let address = NodeAddress(host: Self.host(master["endpoint"]?.string, master["ip"]?.string, defaultHost), port: port)
            let bounds = slots.compactMap { $0.int ?? $0.string.flatMap { Int($0) } }
            for pair in stride(from: 0, to: bounds.count - 1, by: 2) where bounds[pair] <= bounds[pair + 1] {
                topology.assign(bounds[pair]...bounds[pair + 1], to: address)
            }
        }
        return topology
    }

    /// Reads a `CLUSTER SLOTS` reply: `[start, end, [host, port, id, …], replicas…]` per range.
    static func parse(slots reply: RedisReply, defaultHost: String) -> ClusterTopology? {
        guard let ranges = reply.array else { return nil }
        var topology = ClusterTopology()
        for range in ranges {
            guard let parts = range.array, parts.count >= 3, let start = parts[0].int, let end = parts[1].int,
                  let node = parts[2].array, node.count >= 2, let port = node[1].int, start <= end
            else { return nil }
            topology.assign(start...end, to: NodeAddress(host: Self.host(node[0].string, nil, defaultHost), port: port))
        }
        return topology
    }

    /// A field/value list (RESP2's form of a map) as a dictionary.
    private static func fields(_ reply: RedisReply) -> [String: RedisReply]? {
        guard let items = reply.array, items.count % 2 == 0 else { return nil }
        var fields: [String: RedisReply] = [:]
        for pair in stride(from: 0, to: items.count, by: 2) {
            guard let name = items[pair].string else { return nil }
            fields[name] = items[pair + 1]
        }
        return fields
    }

    /// The preferred endpoint, else the IP, else the host the client reached the cluster on
    /// (Redis answers `""` or `?` when a node does not know its own address).
    private static func host(_ endpoint: String?, _ ip: String?, _ defaultHost: String) -> String {
        for candidate in [endpoint, ip] {
            if let candidate, !candidate.isEmpty, candidate != "?" { return candidate }
        }
        return defaultHost
    }
}
