import BatonCore
import RedisClient

/// An entry read from the bus streams.
public enum BusEntry: Sendable, Hashable {
    /// Agents' reports (one entry may carry several).
    case reports(id: String, [Report])
    /// A Redis-native submission: the entry's fields as sent by the app, as raw bytes (the
    /// handler checks them: invalid UTF-8 is refused, never replaced).
    case submission(id: String, fields: [String: [UInt8]])

    /// The stream entry id.
    public var id: String {
        switch self {
        case .reports(let id, _), .submission(let id, _): return id
        }
    }
}

extension BatonStore {
    /// Sends reports to the schedulers: one stream entry holding every report, as repeated
    /// groups of fields `kind, tree, task, attempt, data, extra`.
    public func publish(_ reports: [Report]) async throws {
        if reports.isEmpty { return }
        var xadd = RedisCommand("XADD", keys.reports, "*")
        for report in reports {
            xadd.append(contentsOf: ["kind", report.kind.rawValue, "tree", report.treeID, "task", report.taskID,
                                     "attempt", String(report.attempt), "data", report.data, "extra", report.extra])
        }
        try await redis.send(xadd)
    }

    /// Creates the schedulers' consumer group on both bus streams (idempotent).
    public func createSchedulerGroup() async throws {
        for stream in [keys.reports, keys.submissions] {
            do {
                try await redis.send("XGROUP", "CREATE", stream, Keys.schedulerGroup, "0", "MKSTREAM")
            } catch RedisError.server(let message) where message.hasPrefix("BUSYGROUP") {
                continue
            }
        }
    }

    /// Reads bus entries for a scheduler: new ones (`pending == false`, blocking up to `blockMillis`)
    /// or the ones this consumer read before but did not acknowledge (`pending == true`).
    public func readBus(
        on connection: RedisBlockingConnection, consumer: String, count: Int, blockMillis: Int, pending: Bool
    ) async throws -> [BusEntry] {
        var command = RedisCommand("XREADGROUP", "GROUP", Keys.schedulerGroup, consumer, "COUNT", String(count))
        if !pending { command.append(contentsOf: ["BLOCK", String(blockMillis)]) }
        command.append(contentsOf: ["STREAMS", keys.reports, keys.submissions])
        command.append(contentsOf: pending ? ["0", "0"] : [">", ">"])
        let reply = try await connection.send(command, timeout: .milliseconds(blockMillis + 5_000))
        var entries: [BusEntry] = []
        for stream in reply.array ?? [] {
            guard let parts = stream.array, parts.count == 2, let name = parts[0].string else { continue }
            for entry in parts[1].array ?? [] {
                guard let pieces = entry.array, pieces.count == 2, let id = pieces[0].string else { continue }
                entries.append(Self.busEntry(id: id, fields: pieces[1].array ?? [], isReport: name == keys.reports))
            }
        }
        return entries
    }

    /// Takes over entries another scheduler read but never acknowledged (it died), after `idleMillis`.
    public func reclaimBus(consumer: String, idleMillis: Int, count: Int) async throws -> [BusEntry] {
        var entries: [BusEntry] = []
        for stream in [keys.reports, keys.submissions] {
            let reply = try await redis.send(RedisCommand(
                "XAUTOCLAIM", stream, Keys.schedulerGroup, consumer, String(idleMillis), "0-0", "COUNT", String(count)))
            for entry in reply.array?.dropFirst().first?.array ?? [] {
                guard let pieces = entry.array, pieces.count == 2, let id = pieces[0].string else { continue }
                entries.append(Self.busEntry(id: id, fields: pieces[1].array ?? [], isReport: stream == keys.reports))
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
        for stream in [keys.reports, keys.submissions] {
            let info = try await redis.send("XINFO", "CONSUMERS", stream, Keys.schedulerGroup)
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
                            entries.append(Self.busEntry(id: id, fields: pieces[1].array ?? [], isReport: stream == keys.reports))
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
        for (stream, ids) in [(keys.reports, entries.filter { if case .reports = $0 { true } else { false } }.map(\.id)),
                              (keys.submissions, entries.filter { if case .submission = $0 { true } else { false } }.map(\.id))]
        where !ids.isEmpty {
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

    static func busEntry(id: String, fields: [RedisReply], isReport: Bool) -> BusEntry {
        if isReport { return .reports(id: id, parseReports(fields.map { $0.string ?? "" })) }
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
