import BatonCore
import BatonConfig
import BatonStore
import Foundation
import Logging
import RedisClient

/// What every service checks about its Redis before it starts (issue 9, "Redis as an operator
/// runs it"): an eviction policy other than `noeviction` deletes task data silently, so it stops
/// the service unless `redis_allow_eviction` says otherwise; the persistence settings are logged
/// with what they mean for acknowledged submissions (`docs/PROTOCOL.md`, "Persistence").
public enum RedisSettingsCheck {
    /// Why a service refuses to start on this Redis.
    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
    }

    /// What `INFO memory` and `INFO persistence` said.
    public struct Settings: Sendable, Hashable {
        public var maxmemoryPolicy: String?
        public var aofEnabled: Bool
        public var rdbSaves: Bool?
        public var appendfsync: String?

        /// One line for the log: what a Redis crash would lose.
        public var persistenceSummary: String {
            if aofEnabled {
                switch appendfsync {
                case "always": return "AOF with appendfsync always: an acknowledged submission survives a Redis crash"
                case "no": return "AOF with appendfsync no: a Redis crash may lose the last ~30 s of acknowledged work"
                default: return "AOF with appendfsync \(appendfsync ?? "everysec"): a Redis crash may lose the last second of acknowledged work"
                }
            }
            if rdbSaves == true { return "RDB snapshots only: a Redis crash loses everything since the last snapshot" }
            return "no persistence: a Redis restart loses every tree and submission"
        }
    }

    /// Reads the settings; `nil` when Redis cannot be reached (the services retry on their own).
    public static func read(_ redis: RedisClient) async -> Settings? {
        guard let memory = try? await redis.send("INFO", "memory").string,
              let persistence = try? await redis.send("INFO", "persistence").string
        else { return nil }
        let fields = parse(memory).merging(parse(persistence)) { first, _ in first }
        var settings = Settings(
            maxmemoryPolicy: fields["maxmemory_policy"], aofEnabled: fields["aof_enabled"] == "1", rdbSaves: nil,
            appendfsync: nil)
        // CONFIG may be renamed or refused on managed Redis: then these stay unknown.
        if let reply = try? await redis.send("CONFIG", "GET", "appendfsync"), let values = reply.array, values.count == 2 {
            settings.appendfsync = values[1].string
        }
        if let reply = try? await redis.send("CONFIG", "GET", "save"), let values = reply.array, values.count == 2 {
            settings.rdbSaves = !(values[1].string ?? "").isEmpty
        }
        return settings
    }

    /// Checks the Redis a service is about to use; throws ``Refusal`` when it may evict keys and
    /// the configuration does not allow that. Logs the persistence settings. An unreachable Redis
    /// is logged and let through: the service's own loops wait for it.
    public static func run(_ store: BatonStore, config: BatonConfig, logger: Logger) async throws {
        guard let settings = await read(store.redis) else {
            logger.warning("cannot check Redis settings now (unreachable); starting anyway", metadata: ["baton.redis": "\(config.redisURL)"])
            return
        }
        let policy = settings.maxmemoryPolicy ?? "unknown"
        if policy != "noeviction" {
            let message = "Redis at \(config.redisURL) has maxmemory-policy \(policy): it may delete Baton's task data "
                + "silently when memory runs out. Set maxmemory-policy noeviction (Baton then answers 503 when Redis is full), "
                + "or start with redis_allow_eviction: true / BATON_REDIS_ALLOW_EVICTION=true to accept the risk."
            if !config.redisAllowEviction { throw Refusal(description: message) }
            logger.warning("\(message)")
        }
        logger.info("redis persistence", metadata: [
            "baton.redis": "\(config.redisURL)", "baton.persistence": "\(settings.persistenceSummary)",
        ])
        // Agents writing to report shards the schedulers do not read would lose reports.
        do {
            try await store.checkBusShards()
        } catch let error as BatonError where error.code == .conflict {
            throw Refusal(description: error.message)
        } catch {
            logger.warning("cannot check bus.shards now; starting anyway", metadata: ["baton.error": "\(error)"])
        }
    }

    /// `INFO` text as field → value.
    static func parse(_ info: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in info.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
        }
        return fields
    }
}
