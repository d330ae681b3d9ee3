import BatonCore
import Foundation
import RedisClient

/// What a live agent says about itself (`GET /v1/agents`), refreshed by its heartbeat.
public struct AgentRecord: Sendable, Hashable {
    public var id: String
    public var host: String
    public var pid: Int
    public var version: String
    public var executors: [String]
    public var concurrency: Int
    /// Attempts running now.
    public var running: Int
    /// Epoch ms.
    public var startedAt: Int64
    /// Epoch ms of the last refresh.
    public var lastSeen: Int64
    /// Attempts that ended in the last minute, per executor type: `completed` and `failed`.
    public var lastMinute: [String: [String: Int]]

    public init(
        id: String, host: String, pid: Int, version: String, executors: [String], concurrency: Int, running: Int,
        startedAt: Int64, lastSeen: Int64, lastMinute: [String: [String: Int]] = [:]
    ) {
        self.id = id
        self.host = host
        self.pid = pid
        self.version = version
        self.executors = executors
        self.concurrency = concurrency
        self.running = running
        self.startedAt = startedAt
        self.lastSeen = lastSeen
        self.lastMinute = lastMinute
    }

    /// Free slots.
    public var free: Int { max(0, concurrency - running) }

    public var jsonValue: JSONValue {
        [
            "id": .string(id), "host": .string(host), "pid": .int(pid), "version": .string(version),
            "executors": .array(executors.map(JSONValue.string)), "concurrency": .int(concurrency),
            "running": .int(running), "free_slots": .int(free),
            "started_at": .string(Timestamp.rfc3339(millis: startedAt)), "last_seen": .string(Timestamp.rfc3339(millis: lastSeen)),
            "last_minute": .object(lastMinute.mapValues { .object($0.mapValues(JSONValue.int)) }),
        ]
    }

    /// The record's hash fields.
    var fields: [String] {
        let minute = JSONValue.object(lastMinute.mapValues { .object($0.mapValues(JSONValue.int)) }).jsonString()
        return [
            "id", id, "host", host, "pid", String(pid), "version", version,
            "executors", JSONValue.array(executors.map(JSONValue.string)).jsonString(),
            "concurrency", String(concurrency), "running", String(running), "started_at", String(startedAt),
            "last_seen", String(lastSeen), "last_minute", minute,
        ]
    }

    /// Reads a record from its hash; `nil` when a field is missing or does not parse (a record
    /// written by something else is left out of listings rather than shown with defaults).
    init?(hash: [String: String]) {
        guard let id = hash["id"], let host = hash["host"], let pid = hash["pid"].flatMap({ Int($0) }),
              let version = hash["version"], let executors = hash["executors"],
              let concurrency = hash["concurrency"].flatMap({ Int($0) }), let running = hash["running"].flatMap({ Int($0) }),
              let startedAt = hash["started_at"].flatMap({ Int64($0) }), let lastSeen = hash["last_seen"].flatMap({ Int64($0) })
        else { return nil }
        // A JSON array of names (an executor type may hold a comma).
        guard let executorList = (try? JSONValue(parsing: executors))?.arrayValue?.compactMap(\.stringValue) else { return nil }
        var lastMinute: [String: [String: Int]] = [:]
        if let text = hash["last_minute"], let object = (try? JSONValue(parsing: text))?.objectValue {
            for (executor, counts) in object {
                lastMinute[executor] = (counts.objectValue ?? [:]).compactMapValues(\.intValue)
            }
        }
        self.init(
            id: id, host: host, pid: pid, version: version,
            executors: executorList, concurrency: concurrency, running: running,
            startedAt: startedAt, lastSeen: lastSeen, lastMinute: lastMinute)
    }
}

extension BatonStore {
    /// How long an agent's record outlives its last refresh: agents refresh every
    /// ``agentRefreshMillis``, so a record this old belongs to a dead agent.
    public static let agentRecordMillis: Int64 = 10_000
    /// How often a live agent refreshes its record.
    public static let agentRefreshMillis: Int64 = 2_000

    /// Writes (or refreshes) an agent's record, expiring ``agentRecordMillis`` after `lastSeen`.
    public func registerAgent(_ agent: AgentRecord) async throws {
        let key = keys.agent(agent.id)
        let replies = try await redis.pipeline([
            RedisCommand(["HSET", key] + agent.fields),
            RedisCommand("PEXPIRE", key, String(Self.agentRecordMillis)),
            RedisCommand("ZADD", keys.agents, String(agent.lastSeen), agent.id),
            RedisCommand("ZREMRANGEBYSCORE", keys.agents, "-inf", String(agent.lastSeen - Self.agentRecordMillis)),
        ])
        if let failed = replies.first(where: { $0.errorMessage != nil }) { _ = try failed.throwingError() }
    }

    /// Removes an agent's record (a clean shutdown).
    public func unregisterAgent(_ id: String, timeout: Duration? = nil) async throws {
        _ = try await redis.pipeline([RedisCommand("DEL", keys.agent(id)), RedisCommand("ZREM", keys.agents, id)], timeout: timeout)
    }

    /// The live agents, by id.
    public func agents() async throws -> [AgentRecord] {
        let since = clock() - Self.agentRecordMillis
        let ids = (try await redis.send("ZRANGEBYSCORE", keys.agents, String(since), "+inf").array ?? []).compactMap(\.string)
        if ids.isEmpty { return [] }
        let hashes = try await redis.pipeline(ids.map { RedisCommand("HGETALL", keys.agent($0)) })
        return hashes.compactMap { $0.stringDictionary.flatMap(AgentRecord.init(hash:)) }.sorted { $0.id < $1.id }
    }
}

extension BatonStore {
    /// Warnings for a submission whose executor types no agent has served (within
    /// ``servedMemoryMillis``): a typo such as `echo_exector` is accepted, but its tasks would
    /// wait for ever, so the answer says so. One line per type, naming the first task that uses it.
    public func unservedExecutorWarnings(_ executors: [(executor: String, field: String)]) async throws -> [String] {
        var firstField: [String: String] = [:]
        var order: [String] = []
        for (executor, field) in executors where firstField[executor] == nil {
            firstField[executor] = field
            order.append(executor)
        }
        if order.isEmpty { return [] }
        let scores = try await redis.send(RedisCommand(["ZMSCORE", keys.executorsServed] + order)).array ?? []
        return zip(order, scores).filter { $0.1.isNull }.map { executor, _ in
            "no agent has served executor type '\(executor)' (\(firstField[executor] ?? "executor")): its tasks wait until an agent for it starts"
        }
    }
}
