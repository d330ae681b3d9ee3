import BatonStore
import RedisClient

/// Reads trees' event streams (`<ns>:{t:<tree>}:events`) on connections of the gateway's own,
/// so streaming never queues behind API calls on the store's pool.
final class TreeEventLog: Sendable {
    /// Entries per read.
    static let batch = 1000

    private let keys: Keys
    /// A client of its own (per node on a cluster), so reads are routed like every other call.
    private let connection: RedisClient

    init(configuration: RedisConfiguration, keys: Keys, connections count: Int = 2) {
        var configuration = configuration
        configuration.clientName = "baton-gateway-events"
        self.keys = keys
        connection = RedisClient(configuration: configuration, poolSize: count)
    }

    /// The id of the newest entry, or ``StreamID/zero`` for an empty or missing stream.
    func lastID(_ treeID: String) async throws -> StreamID {
        let reply = try await connection.send(RedisCommand("XREVRANGE", keys.treeEvents(treeID), "+", "-", "COUNT", "1"))
        return Self.entries(reply).first.flatMap { StreamID($0.id) } ?? .zero
    }

    /// Up to ``batch`` entries after `after` (XREAD, non-blocking: readers are woken by nudges).
    func read(_ treeID: String, after: StreamID) async throws -> [TreeEvent] {
        let reply = try await connection.send(RedisCommand(
            "XREAD", "COUNT", String(Self.batch), "STREAMS", keys.treeEvents(treeID), after.description))
        // [[key, [entries]]] or nil
        guard let stream = reply.array?.first?.array, stream.count == 2 else { return [] }
        return TreeEvent.parse(entries: Self.entries(stream[1]))
    }

    /// Entries after `after` up to and including `through`, at most ``batch``.
    func range(_ treeID: String, after: StreamID, through: StreamID) async throws -> [TreeEvent] {
        let reply = try await connection.send(RedisCommand(
            "XRANGE", keys.treeEvents(treeID), "(\(after)", through.description, "COUNT", String(Self.batch)))
        return TreeEvent.parse(entries: Self.entries(reply))
    }

    /// True when entries after `after` were trimmed away (the client would miss events): the
    /// stream lost entries (`entries-added` > `length`) and its first entry comes after `after`.
    func isTrimmed(_ treeID: String, after: StreamID) async throws -> Bool {
        guard after > .zero else { return false }
        let reply: RedisReply
        do {
            reply = try await connection.send(RedisCommand("XINFO", "STREAM", keys.treeEvents(treeID)))
        } catch RedisError.server {
            return false  // no stream yet
        }
        let items = reply.array ?? []
        var info: [String: RedisReply] = [:]
        var index = 0
        while index + 1 < items.count {
            if let key = items[index].string { info[key] = items[index + 1] }
            index += 2
        }
        let length = info["length"]?.int ?? 0
        let added = info["entries-added"]?.int ?? length
        guard added > length else { return false }
        guard let first = info["first-entry"]?.array?.first?.string.flatMap({ StreamID($0) }) else {
            return true  // everything was trimmed
        }
        return after < first
    }

    func close() {
        connection.close()
    }

    /// `[[id, [field, value, …]], …]` as entries.
    static func entries(_ reply: RedisReply) -> [RedisReplyEntry] {
        (reply.array ?? []).compactMap { entry in
            guard let parts = entry.array, parts.count == 2, let id = parts[0].string else { return nil }
            return RedisReplyEntry(id: id, fields: parts[1].stringDictionary ?? [:])
        }
    }
}
