import BatonStore
import Logging
import ServiceLifecycle

/// Periodically hands back the tasks whose lease ran out (their agent died or hung), moves
/// retries whose backoff is over to their ready queues, finishes submissions whose process died
/// between storing a tree and queueing its ready tasks, deletes expired trees, and now and then
/// (`orphanSweepMillis`) queues tasks left `in_progress` without a lease. Several schedulers may
/// run it at once: the transitions are idempotent.
public struct LeaseReaper: Service {
    let store: BatonStore
    let settings: SchedulerSettings
    let logger: Logger

    public init(store: BatonStore, settings: SchedulerSettings, logger: Logger) {
        self.store = store
        self.settings = settings
        self.logger = logger
    }

    public func run() async throws {
        var orphans = OrphanSweepPosition()
        let clock = ContinuousClock()
        var nextOrphanSweep = clock.now.advanced(by: .milliseconds(settings.orphanSweepMillis))
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await sweep()
                if clock.now >= nextOrphanSweep {
                    nextOrphanSweep = clock.now.advanced(by: .milliseconds(settings.orphanSweepMillis))
                    try await sweepOrphans(&orphans)
                }
            } catch {
                logger.warning("lease sweep failed", metadata: ["baton.error": "\(error)"])
            }
            do {
                try await Task.sleep(for: .milliseconds(settings.reaperIntervalMillis))
            } catch {
                break
            }
        }
    }

    /// One pass over every queue shard of every executor type served lately.
    public func sweep() async throws {
        let executors = try await store.executorTypes()
        for queue in executors.flatMap(store.keys.queues(of:)) {
            let expired = try await store.reapExpiredLeases(queue, holdMillis: settings.reapHoldMillis)
            if expired.isEmpty { continue }
            SchedulerMetrics.leasesExpired(queue.executor).increment(by: expired.count)
            logger.info("leases expired", metadata: ["baton.executor": "\(queue)", "baton.count": "\(expired.count)"])
            try await store.apply(expired)
        }
        try await store.promoteDelayed(executors: executors)
        try await store.repairInflightSubmissions(olderThanMillis: settings.inflightRepairMillis)
        // Expired trees: more pages while full ones come back (up to 1,000 trees a pass), so
        // deletion keeps up with trees finishing at a high rate.
        for _ in 0..<20 {
            if try await store.sweepExpiredTrees(limit: 50) < 50 { break }
        }
    }

    /// One pass of the orphan sweep over every tree (in pages, from where the last pass stopped).
    func sweepOrphans(_ position: inout OrphanSweepPosition) async throws {
        repeat {
            let found = try await store.recoverOrphanedTasks(from: &position)
            if !found.isEmpty {
                SchedulerMetrics.orphans.increment(by: found.count)
                logger.warning("tasks in progress without a lease queued again", metadata: ["baton.count": "\(found.count)"])
            }
        } while position.nextRank != 0 && !Task.isShuttingDownGracefully
    }
}
