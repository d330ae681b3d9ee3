import BatonCore
import BatonConfig
import BatonStore
import Foundation
import Logging
import RedisClient

/// What every service checks about its Redis before it starts (issue 9, "Redis as an operator
/// runs it"): an eviction policy other than `noeviction` on any master deletes task data
/// silently, so it stops the service unless `redis_allow_eviction` says otherwise; each master's
/// persistence settings are logged with what they mean for acknowledged submissions
/// (`docs/PROTOCOL.md`, "Persistence"); the bus and queue shard counts must match the namespace's.
public enum RedisSettingsCheck {
    /// Why a service refuses to start on this Redis.
    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
    }

    /// Checks the Redis a service is about to use; throws ``Refusal`` when it may evict keys and
    /// the configuration does not allow that. Logs the persistence settings. An unreachable Redis
    /// is logged and let through: the service's own loops wait for it.
    public static func run(_ store: BatonStore, config: BatonConfig, logger: Logger) async throws {
        let masters: [RedisDurability]
        do {
            masters = try await store.redisDurability()
        } catch {
            masters = []
        }
        if masters.isEmpty {
            logger.warning("cannot check Redis settings now (unreachable); starting anyway", metadata: ["baton.redis": "\(config.redisURL)"])
            return
        }
        // Every master: on a cluster one evicting node loses the trees of its slots.
        for master in masters where master.mayEvict {
            let policy = master.maxmemoryPolicy ?? "unknown"
            let message = "Redis at \(master.node) has maxmemory-policy \(policy): it may delete Baton's task data "
                + "silently when memory runs out. Set maxmemory-policy noeviction (Baton then answers 503 when Redis is full), "
                + "or start with redis_allow_eviction: true / BATON_REDIS_ALLOW_EVICTION=true to accept the risk."
            if !config.redisAllowEviction { throw Refusal(description: message) }
            logger.warning("\(message)")
        }
        for master in masters {
            logger.info("redis persistence", metadata: [
                "baton.redis": "\(master.node)", "baton.persistence": "\(master.persistenceSummary)",
            ])
        }
        // Agents writing to report shards the schedulers do not read would lose reports, and a
        // task queued on a shard no agent claims from would never run.
        do {
            try await store.checkBusShards()
            try await store.checkQueueShards()
        } catch let error as BatonError where error.code == .conflict {
            throw Refusal(description: error.message)
        } catch {
            logger.warning("cannot check bus.shards and queue shards now; starting anyway", metadata: ["baton.error": "\(error)"])
        }
    }
}
