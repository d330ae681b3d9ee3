import BatonStore
import RedisClient

/// Reads trees' event streams (`<ns>:{t:<tree>}:events`) on connections of the gateway's own,
/// so streaming never queues behind API calls on the store's pool.
final class TreeEventLog: Sendable {
    /// Entries per read.
    static let batch = 1000

    /// A store with connections of its own, so reads are routed like every other call but never
    /// queue behind API calls.
    private let store: BatonStore

    init(store: BatonStore, connections count: Int = 2) {
        self.store = store.withOwnConnections(poolSize: count, clientName: "baton-gateway-events")
    }

    /// The id of the newest entry, or ``StreamID/zero`` for an empty or missing stream.
    func lastID(_ treeID: String) async throws -> StreamID {
        try await store.lastEventID(of: treeID).flatMap { StreamID($0) } ?? .zero
    }

    /// Up to ``batch`` entries after `after` (XREAD, non-blocking: readers are woken by nudges).
    func read(_ treeID: String, after: StreamID) async throws -> [TreeEvent] {
        TreeEvent.parse(entries: try await store.events(of: treeID, after: after.description, count: Self.batch))
    }

    /// Entries after `after` up to and including `through`, at most ``batch``.
    func range(_ treeID: String, after: StreamID, through: StreamID) async throws -> [TreeEvent] {
        TreeEvent.parse(entries: try await store.events(
            of: treeID, after: after.description, through: through.description, count: Self.batch))
    }

    /// True when entries after `after` were trimmed away (the client would miss events): the
    /// stream lost entries (`entries-added` > `length`) and its first entry comes after `after`.
    func isTrimmed(_ treeID: String, after: StreamID) async throws -> Bool {
        guard after > .zero, let info = try await store.eventStreamInfo(of: treeID) else { return false }
        guard info.entriesAdded > info.length else { return false }
        guard let first = info.firstID.flatMap({ StreamID($0) }) else {
            return true  // everything was trimmed
        }
        return after < first
    }

    func close() {
        store.redis.close()
    }
}
