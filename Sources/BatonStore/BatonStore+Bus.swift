import BatonCore
import RedisClient

/// An entry read from the bus streams.
public enum BusEntry: Sendable, Hashable {
    /// Agents' reports (one entry may carry several), read from the report stream `stream`.
    case reports(id: String, stream: String, [Report])
    /// A Redis-native submission: the entry's fields as sent by the app, as raw bytes (the
    /// handler checks them: invalid UTF-8 is refused, never replaced).
    case submission(id: String, fields: [String: [UInt8]])

    /// The stream entry id.
    public var id: String {
        switch self {
        case .reports(let id, _, _), .submission(let id, _): return id
        }
    }

    /// The stream the entry was read from.
    func stream(_ keys: Keys) -> String {
        switch self {
        case .reports(_, let stream, _): return stream
        case .submission: return keys.submissions
        }
    }
}

extension BatonStore {
    /// Sends reports to the schedulers: per report shard one stream entry holding that shard's
    /// reports, as repeated groups of fields `kind, tree, task, attempt, data, extra` (one
    /// pipeline; a tree's reports keep their order within its shard).
    public func publish(_ reports: [Report]) async throws {
        if reports.isEmpty { return }
        let replies = try await redis.pipeline(busEntries(reports))
        if let failed = replies.first(where: { $0.errorMessage != nil }) { _ = try failed.throwingError() }
    }

    /// The `XADD`s of ``publish(_:)``: one per report shard the reports go to (to its applied
    /// stream for reports the agent applied itself).
    func busEntries(_ reports: [Report], applied: Bool = false) -> [RedisCommand] {
        var entries: [String: RedisCommand] = [:]
        var order: [String] = []
        for report in reports {
            let stream = applied ? keys.applied(ofTree: report.treeID) : keys.reports(ofTree: report.treeID)
            if entries[stream] == nil {
                entries[stream] = RedisCommand("XADD", stream, "*")
                order.append(stream)
            }
            entries[stream]!.append(contentsOf: [
                "kind", report.kind.rawValue, "tree", report.treeID, "task", report.taskID,
                "attempt", String(report.attempt), "data", report.data, "extra", report.extra])
        }
        return order.map { entries[$0]! }
    }

    /// Records the bus's shard count in Redis if nobody did, and refuses a different one: agents
    /// writing to shards the schedulers do not read would lose reports.
    /// - Throws: `conflict` naming both counts.
    public func checkBusShards() async throws {
        let replies = try await redis.pipeline([
            RedisCommand("SET", keys.busShardCount, String(keys.busShards), "NX"),
            RedisCommand("GET", keys.busShardCount),
        ])
        let recorded = replies[1].string ?? String(keys.busShards)
        guard recorded == String(keys.busShards) else {
            throw BatonError.conflict(
                "bus.shards is \(keys.busShards) here, but namespace '\(keys.namespace)' runs with \(recorded) (\(keys.busShardCount)): "
                    + "give every service the same bus.shards (changing it needs every service stopped and the bus drained)",
                field: "bus.shards")
        }
    }

    /// Records the queue shard count of each executor type configured with more than one, and
    /// refuses a count that differs from one recorded by another service (a gateway queueing a
    /// task on a shard its agents do not claim from would strand it). A type recorded here with
    /// shards but configured without them is refused too.
    /// - Throws: `conflict` naming the executor type and both counts.
    public func checkQueueShards() async throws {
        let configured = keys.queueShards.sorted { $0.key < $1.key }
        var commands = configured.map { RedisCommand("HSETNX", keys.queueShardCounts, $0.key, String($0.value)) }
        commands.append(RedisCommand("HGETALL", keys.queueShardCounts))
        let replies = try await redis.pipeline(commands)
        if let failed = replies.first(where: { $0.errorMessage != nil }) { _ = try failed.throwingError() }
        for (executor, recorded) in (replies.last?.stringDictionary ?? [:]).sorted(by: { $0.key < $1.key }) {
            let here = keys.queueShardCount(executor)
            if recorded != String(here) {
                throw BatonError.conflict(
                    "executors.\(executor).queue_shards is \(here) here, but namespace '\(keys.namespace)' runs with \(recorded) "
                        + "(\(keys.queueShardCounts)): give every service the same executors section (changing it needs the type's "
                        + "queues drained and every service stopped)",
                    field: "executors.\(executor).queue_shards")
            }
        }
    }

    /// Creates the schedulers' consumer group on every bus stream (idempotent; one pipeline).
    public func createSchedulerGroup() async throws {
        let replies = try await redis.pipeline(keys.groupStreams.map {
            RedisCommand("XGROUP", "CREATE", $0, Keys.schedulerGroup, "0", "MKSTREAM")
        })
        if let failed = replies.first(where: { $0.errorMessage.map { !$0.hasPrefix("BUSYGROUP") } ?? false }) {
            _ = try failed.throwingError()
        }
    }

    /// The bus streams grouped for blocking reads: all of them in one read on a standalone
    /// server; one read per slot on a cluster (a read never spans slots).
    public func busReadGroups() async throws -> [[String]] {
        if try await redis.isCluster() {
            return Dictionary(grouping: keys.busStreams, by: ClusterSlot.of).values.map { $0 }.sorted { $0[0] < $1[0] }
        }
        return [keys.busStreams]
    }

    /// Reads bus entries of `streams` for a scheduler: new ones (`pending == false`, blocking up
    /// to `blockMillis`) or the ones this consumer read before but did not acknowledge.
    public func readBus(
        _ streams: [String], on connection: RedisBlockingConnection, consumer: String, count: Int, blockMillis: Int,
        pending: Bool
    ) async throws -> [BusEntry] {
        var command = RedisCommand("XREADGROUP", "GROUP", Keys.schedulerGroup, consumer, "COUNT", String(count))
        if !pending { command.append(contentsOf: ["BLOCK", String(blockMillis)]) }
        command.append("STREAMS")
        command.append(contentsOf: streams)
        command.append(contentsOf: streams.map { _ in pending ? "0" : ">" })
        let reply = try await connection.send(command, timeout: .milliseconds(blockMillis + 5_000))
        var entries: [BusEntry] = []
        for stream in reply.array ?? [] {
            guard let parts = stream.array, parts.count == 2, let name = parts[0].string else { continue }
            for entry in parts[1].array ?? [] {
                guard let pieces = entry.array, pieces.count == 2, let id = pieces[0].string else { continue }
                entries.append(busEntry(id: id, fields: pieces[1].array ?? [], stream: name))
            }
        }
        return entries
    }

    /// Reads, without waiting, up to `count` entries of each applied-report stream for the
    /// replay: new ones, or (`pending`) the ones this consumer read before but did not
    /// acknowledge. One pipeline (one read per stream: on a cluster they live on several nodes).
    public func readApplied(consumer: String, count: Int, pending: Bool) async throws -> [BusEntry] {
        let streams = keys.allApplied
        let replies = try await redis.pipeline(streams.map {
            RedisCommand("XREADGROUP", "GROUP", Keys.schedulerGroup, consumer, "COUNT", String(count), "STREAMS", $0, pending ? "0" : ">")
        })
        var entries: [BusEntry] = []
        for (stream, reply) in zip(streams, replies) {
            if reply.errorMessage != nil { _ = try reply.throwingError() }
            for entry in reply.array?.first?.array?.last?.array ?? [] {
                guard let pieces = entry.array, pieces.count == 2, let id = pieces[0].string else { continue }
                entries.append(busEntry(id: id, fields: pieces[1].array ?? [], stream: stream))
            }
        }
        return entries
    }

    /// Takes over entries another scheduler read but never acknowledged (it died), after `idleMillis`.
    public func reclaimBus(consumer: String, idleMillis: Int, count: Int) async throws -> [BusEntry] {
        let streams = keys.groupStreams
        let replies = try await redis.pipeline(streams.map {
            RedisCommand("XAUTOCLAIM", $0, Keys.schedulerGroup, consumer, String(idleMillis), "0-0", "COUNT", String(count))
        })
        var entries: [BusEntry] = []
        for (stream, reply) in zip(streams, replies) {
            for entry in reply.array?.dropFirst().first?.array ?? [] {
                guard let pieces = entry.array, pieces.count == 2, let id = pieces[0].string else { continue }
                entries.append(busEntry(id: id, fields: pieces[1].array ?? [], stream: stream))
            }
        }
        return entries
    }

    /// Says that the scheduler consuming as `consumer` is alive for the next `ttlMillis`.
    public func markSchedulerAlive(_ consumer: String, ttlMillis: Int) async throws {
        try await redis.send("SET", keys.schedulerAlive(consumer), "1", "PX", String(ttlMillis))
    }

    /// Takes over, at once, the unacknowledged entries of every other consumer of the schedulers'
    /// group whose liveness key is gone (it was killed or lost its host), and removes such consumers
    /// from the group once they hold nothing. The idle takeover (``reclaimBus(consumer:idleMillis:count:)``)
    /// stays the safety net for a consumer that looks alive but does not move.
    public func takeOverDeadSchedulers(consumer: String, count: Int) async throws -> [BusEntry] {
        var entries: [BusEntry] = []
        let streams = keys.groupStreams
        // Every stream's consumers in one pipeline (a stream without the group yet answers an error).
        let infos = try await redis.pipeline(streams.map { RedisCommand("XINFO", "CONSUMERS", $0, Keys.schedulerGroup) })
        for (stream, info) in zip(streams, infos) {
            let others: [(name: String, pending: Int)] = (info.array ?? []).compactMap { consumerInfo in
                let fields = (consumerInfo.array ?? []).map { $0.string ?? "" }
                var values: [String: String] = [:]
                for index in stride(from: 0, to: fields.count - 1, by: 2) { values[fields[index]] = fields[index + 1] }
                guard let name = values["name"], name != consumer else { return nil }
                return (name, Int(values["pending"] ?? "") ?? 0)
            }
            if others.isEmpty { continue }
            let alive = try await redis.pipeline(others.map { RedisCommand("EXISTS", keys.schedulerAlive($0.name)) })
            for (other, reply) in zip(others, alive) where reply.int == 0 {
                if other.pending > 0 {
                    let pending = try await redis.send(RedisCommand(
                        "XPENDING", stream, Keys.schedulerGroup, "-", "+", String(count), other.name))
                    let ids = (pending.array ?? []).compactMap { $0.array?.first?.string }
                    if !ids.isEmpty {
                        let claimed = try await redis.send(RedisCommand(
                            ["XCLAIM", stream, Keys.schedulerGroup, consumer, "0"] + ids))
                        for entry in claimed.array ?? [] {
                            guard let pieces = entry.array, pieces.count == 2, let id = pieces[0].string else { continue }
                            entries.append(busEntry(id: id, fields: pieces[1].array ?? [], stream: stream))
                        }
                    }
                    // More than `count` pending: the rest are taken on the next round.
                    if ids.count >= count { continue }
                }
                try await redis.send("XGROUP", "DELCONSUMER", stream, Keys.schedulerGroup, other.name)
            }
        }
        return entries
    }

    /// Acknowledges and deletes processed entries (their effects are stored).
    public func acknowledge(_ entries: [BusEntry]) async throws {
        var commands: [RedisCommand] = []
        for (stream, ids) in Dictionary(grouping: entries, by: { $0.stream(keys) }).mapValues({ $0.map(\.id) }) {
            commands.append(RedisCommand(["XACK", stream, Keys.schedulerGroup] + ids))
            commands.append(RedisCommand(["XDEL", stream] + ids))
        }
        _ = try await redis.pipeline(commands)
    }

    static func parseReports(_ fields: [String]) -> [Report] {
        var reports: [Report] = []
        var current: [String: String] = [:]
        func flush() {
            if let kindText = current["kind"], let kind = Report.Kind(rawValue: kindText),
               let tree = current["tree"], let task = current["task"] {
                reports.append(Report(kind: kind, treeID: tree, taskID: task, attempt: Int(current["attempt"] ?? "") ?? 0,
                                      data: current["data"] ?? "", extra: current["extra"] ?? ""))
            }
            current = [:]
        }
        var index = 0
        while index + 1 < fields.count {
            if fields[index] == "kind" && !current.isEmpty { flush() }
            current[fields[index]] = fields[index + 1]
            index += 2
        }
        flush()
        return reports
    }

    func busEntry(id: String, fields: [RedisReply], stream: String) -> BusEntry {
        if stream != keys.submissions { return .reports(id: id, stream: stream, Self.parseReports(fields.map { $0.string ?? "" })) }
        var result: [String: [UInt8]] = [:]
        var index = 0
        while index + 1 < fields.count {
            // A field name that is not UTF-8 cannot be a known field: the handler refuses it by name.
            result[fields[index].string ?? ""] = fields[index + 1].bytes ?? []
            index += 2
        }
        return .submission(id: id, fields: result)
    }
}

/// How far the schedulers' consumer group is behind on the bus (`XINFO GROUPS`).
public struct BusBacklog: Sendable, Hashable {
    /// Entries delivered to a scheduler and not acknowledged yet.
    public var pending = 0
    /// Entries no scheduler has read yet (`lag`, Redis ≥ 7.0; 0 when unknown).
    public var lag = 0
}

extension BatonStore {
    /// The consumer group's backlog summed over every bus stream.
    public func busBacklog() async throws -> BusBacklog {
        let replies = try await redis.pipeline(keys.groupStreams.map { RedisCommand("XINFO", "GROUPS", $0) })
        var backlog = BusBacklog()
        for reply in replies {
            for group in reply.array ?? [] {
                let fields = group.array ?? []
                var info: [String: RedisReply] = [:]
                for index in stride(from: 0, to: fields.count - 1, by: 2) {
                    if let name = fields[index].string { info[name] = fields[index + 1] }
                }
                guard info["name"]?.string == Keys.schedulerGroup else { continue }
                backlog.pending += info["pending"]?.int ?? 0
                backlog.lag += info["lag"]?.int ?? 0
            }
        }
        return backlog
    }
}
