import BatonCore
import RedisClient

/// One entry of a tree's event stream: its stream id and fields.
public struct StreamEntry: Sendable, Hashable {
    public var id: String
    public var fields: [String: String]

    public init(id: String, fields: [String: String]) {
        self.id = id
        self.fields = fields
    }

    /// `[[id, [field, value, …]], …]` (XRANGE, and each stream of an XREAD) as entries.
    static func list(_ reply: RedisReply) -> [StreamEntry] {
        (reply.array ?? []).compactMap { entry in
            guard let parts = entry.array, parts.count == 2, let id = parts[0].string else { return nil }
            return StreamEntry(id: id, fields: parts[1].stringDictionary ?? [:])
        }
    }
}

/// What `XINFO STREAM` says about a tree's event stream.
public struct EventStreamInfo: Sendable, Hashable {
    public var length: Int
    /// Every entry ever added (more than `length` once entries were trimmed).
    public var entriesAdded: Int
    public var firstID: String?
}

/// Reading trees' event streams, waking agents, answering submissions, pinging: the calls the
/// services make besides the transitions, kept here so that every key a service touches is
/// named (and routed) in one place.
extension BatonStore {
    /// A store on the same keys with connections of its own (for readers that must never queue
    /// behind other calls, such as the gateway's event streaming).
    public func withOwnConnections(poolSize: Int, clientName: String) -> BatonStore {
        var configuration = redis.configuration
        configuration.clientName = clientName
        return BatonStore(redis: RedisClient(configuration: configuration, poolSize: poolSize), keys: keys,
                          eventsMaxLength: eventsMaxLength, retentionMillis: retentionMillis, clock: clock)
    }

    /// Redis answers (`PING`).
    public func ping(timeout: Duration) async throws {
        _ = try await redis.send(RedisCommand("PING"), timeout: timeout)
    }

    /// The id of a tree's newest event, or `nil` for an empty or missing stream.
    public func lastEventID(of treeID: String) async throws -> String? {
        StreamEntry.list(try await redis.send(RedisCommand("XREVRANGE", keys.treeEvents(treeID), "+", "-", "COUNT", "1"))).first?.id
    }

    /// Up to `count` events after `after` (`XREAD`). With `blockMillis` and a blocking connection,
    /// waits that long for new ones (an empty answer: nothing came).
    public func events(
        of treeID: String, after: String, count: Int, blockMillis: Int? = nil, on connection: RedisBlockingConnection? = nil
    ) async throws -> [StreamEntry] {
        var command = RedisCommand("XREAD", "COUNT", String(count))
        if let blockMillis { command.append(contentsOf: ["BLOCK", String(blockMillis)]) }
        command.append(contentsOf: ["STREAMS", keys.treeEvents(treeID), after])
        let reply: RedisReply
        if let connection {
            reply = try await connection.send(command, timeout: .milliseconds((blockMillis ?? 0) + 9_000))
        } else {
            reply = try await redis.send(command)
        }
        // [[key, [entries]]], or nil when nothing came.
        guard let stream = reply.array?.first?.array, stream.count == 2 else { return [] }
        return StreamEntry.list(stream[1])
    }

    /// Events after `after` up to and including `through`, at most `count`.
    public func events(of treeID: String, after: String, through: String, count: Int) async throws -> [StreamEntry] {
        StreamEntry.list(try await redis.send(RedisCommand(
            "XRANGE", keys.treeEvents(treeID), "(\(after)", through, "COUNT", String(count))))
    }

    /// `XINFO STREAM` of a tree's events; `nil` when there is no stream yet.
    public func eventStreamInfo(of treeID: String) async throws -> EventStreamInfo? {
        let reply: RedisReply
        do {
            reply = try await redis.send(RedisCommand("XINFO", "STREAM", keys.treeEvents(treeID)))
        } catch RedisError.server {
            return nil
        }
        let items = reply.array ?? []
        var info: [String: RedisReply] = [:]
        for index in stride(from: 0, to: items.count - 1, by: 2) {
            if let key = items[index].string { info[key] = items[index + 1] }
        }
        let length = info["length"]?.int ?? 0
        return EventStreamInfo(
            length: length, entriesAdded: info["entries-added"]?.int ?? length,
            firstID: info["first-entry"]?.array?.first?.string)
    }

    /// The queue shards of `executors` grouped for blocking waits: all in one group on a
    /// standalone server, one group per slot of their markers on a cluster (a blocking wait never
    /// spans slots).
    public func waiterGroups(_ executors: [String]) async throws -> [[ExecutorQueue]] {
        let queues = executors.flatMap(keys.queues(of:))
        if try await redis.isCluster() {
            return Dictionary(grouping: queues) { ClusterSlot.of(keys.marker($0)) }.values.map { $0.sorted() }.sorted { $0[0] < $1[0] }
        }
        return [queues]
    }

    /// Waits (on a blocking connection, up to `timeoutSeconds`) until an enqueue sets the marker
    /// of one of these queue shards, and takes it. Returns that shard, or `nil` after the timeout.
    /// The shards' markers must share a cluster slot on a cluster (``waiterGroups(_:)``).
    public func waitForWork(_ queues: [ExecutorQueue], on connection: RedisBlockingConnection, timeoutSeconds: Int = 1) async throws -> ExecutorQueue? {
        let markers = queues.map { keys.marker($0) }
        let woken = try await connection.send(
            RedisCommand(["BZPOPMIN"] + markers + [String(timeoutSeconds)]), timeout: .seconds(timeoutSeconds + 5))
        guard let marker = woken.array?.first?.string, let index = markers.firstIndex(of: marker) else { return nil }
        return queues[index]
    }

    /// Answers a Redis-native submission: on the results stream (capped at ~10,000 entries) and,
    /// when it named a usable request id, on its reply list (kept an hour).
    public func answerSubmission(entryID: String, requestID: String?, replyKeyID: String?, answer: String) async throws {
        var commands = [RedisCommand(
            "XADD", keys.submissionResults, "MAXLEN", "~", "10000", "*",
            "entry_id", entryID, "request_id", requestID ?? "", "reply", answer)]
        if let replyKeyID {
            let replyKey = keys.submissionReply(replyKeyID)
            commands.append(RedisCommand("RPUSH", replyKey, answer))
            commands.append(RedisCommand("EXPIRE", replyKey, "3600"))
        }
        let replies = try await redis.pipeline(commands)
        if let failed = replies.first(where: { $0.errorMessage != nil }) { _ = try failed.throwingError() }
    }
}
