import RedisClient

/// Where the orphan sweep goes on: the rank in the all-trees index of the next tree to look at.
/// Trees that expire meanwhile shift the ranks, so a tree may be looked at one pass late.
public struct OrphanSweepPosition: Sendable, Hashable {
    public var nextRank = 0
    public init() {}
}

extension BatonStore {
    /// Finds tasks `in_progress` that hold no lease and queues them again (issue 9).
    ///
    /// A task is started after its claim took a lease; if that lease ran out before the start
    /// (a slow agent), the reaper queued the task again, and the start then made it `in_progress`
    /// with no lease. Its agent hands it back at its next heartbeat — unless it died first; then
    /// nothing else would ever look at the task. This sweep does: it reads `trees` trees from
    /// `position` on, and for each that has tasks in progress, the lease of each such task. One
    /// without a lease gets an `orphaned` report naming its attempt, which applies only while the
    /// task is still `in_progress` at that attempt (attempts only grow, so it was without a lease
    /// all along), exactly like an expired lease.
    ///
    /// - Returns: the reports applied (one per orphan found).
    @discardableResult
    public func recoverOrphanedTasks(from position: inout OrphanSweepPosition, trees: Int = 200) async throws -> [Report] {
        let page = (try await redis.send(RedisCommand(
            "ZRANGE", keys.allTrees, String(position.nextRank), String(position.nextRank + trees - 1))).array ?? [])
            .compactMap(\.string)
        position.nextRank = page.count < trees ? 0 : position.nextRank + page.count
        if page.isEmpty { return [] }
        let running = try await redis.pipeline(page.map { RedisCommand("HGET", keys.tree($0), "n_in_progress") })
        var orphans: [Report] = []
        for (treeID, count) in zip(page, running) where (count.string.flatMap { Int($0) } ?? 0) > 0 {
            orphans += try await orphanedTasks(of: treeID)
        }
        if !orphans.isEmpty { try await apply(orphans) }
        return orphans
    }

    /// The tasks of one tree that are `in_progress` without a lease, as `orphaned` reports.
    func orphanedTasks(of treeID: String) async throws -> [Report] {
        var orphans: [Report] = []
        var first = 0
        let chunk = 1_000
        while true {
            let ids = (try await redis.send(RedisCommand(
                "ZRANGE", keys.treeTasks(treeID), String(first), String(first + chunk - 1))).array ?? []).compactMap(\.string)
            let records = try await redis.pipeline(ids.map { RedisCommand("HMGET", keys.task(treeID, $0), "status", "attempt", "executor") })
            var running: [(id: String, attempt: Int, executor: String)] = []
            for (id, record) in zip(ids, records) {
                let fields = record.array?.map(\.string) ?? []
                guard fields.count == 3, fields[0] == "in_progress", let attempt = fields[1].flatMap({ Int($0) }),
                      let executor = fields[2], !executor.isEmpty else { continue }
                running.append((id, attempt, executor))
            }
            let leases = try await redis.pipeline(running.map {
                RedisCommand("ZSCORE", keys.leases(keys.queue($0.executor, tree: treeID, task: $0.id)), Keys.member(tree: treeID, task: $0.id))
            })
            for (task, lease) in zip(running, leases) where lease.isNull {
                orphans.append(Report(kind: .orphaned, treeID: treeID, taskID: task.id, attempt: task.attempt))
            }
            if ids.count < chunk { return orphans }
            first += chunk
        }
    }
}
