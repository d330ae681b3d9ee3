import BatonCore
import RedisClient

extension BatonStore {
    /// How a deletion decides the tree may go.
    public enum DeleteMode: String, Sendable {
        /// The retention sweep: only a finished, unarchived tree whose `expires_at` has passed.
        case expired
        /// `DELETE /v1/trees/{id}`: a finished or archived tree.
        case finished
    }

    /// Deletes a tree and every index entry that names it (id index, the owner's and the global
    /// tree lists, the expiry index). Step by step and resumable: the tree is marked `deleting`
    /// with its checks, then its keys go in batches of ``deleteSliceTasks`` (`deleteTree.lua`),
    /// each batch's id index entries just before its keys, so a crash anywhere leaves a tree the
    /// next attempt finishes, and no call holds Redis long however big the tree.
    /// - Parameter userID: the caller (`nil`: admin or the sweep); a foreign tree is `not_found`.
    /// - Throws: `not_found`; `conflict` when the tree runs or waits (or, for `.expired`, is not due).
    public func deleteTree(_ treeID: String, userID: String?, mode: DeleteMode) async throws {
        let record = try await treeRecord(treeID, userID: userID)
        let now = clock()
        let batch = String(Self.deleteSliceTasks)
        _ = try await run([treeCall(.deleteTree, treeID, now: now, [mode.rawValue, batch])], operation: "delete")
        _ = try await redis.pipeline([
            RedisCommand("ZREM", keys.userTrees(record.userID ?? ""), treeID),
            RedisCommand("ZREM", keys.allTrees, treeID),
        ])
        for _ in 0..<100_000 {  // 50 million tasks: far beyond any tree
            let ids = (try await redis.send("ZRANGE", keys.treeTasks(treeID), "0", String(Self.deleteSliceTasks - 1)).array ?? [])
                .compactMap(\.string)
            if !ids.isEmpty {
                _ = try await redis.pipeline(Dictionary(grouping: ids, by: Keys.bucket(of:)).map { bucket, members in
                    RedisCommand(["HDEL", keys.idIndex(bucket: bucket)] + members)
                })
            }
            let reply = try await run([treeCall(.deleteTree, treeID, now: clock(), ["continue", batch])], operation: "delete")[0]
            if reply.string != "MORE" {
                try await redis.send("ZREM", keys.expiringTrees, treeID)
                return
            }
        }
        throw BatonError.internal("deleting tree \(treeID) did not end")
    }

    /// Task keys deleted per `deleteTree.lua` call.
    static let deleteSliceTasks = 500

    /// Deletes a finished or archived tree; with `cancelRunning`, a tree that still runs or waits
    /// is cancelled first and deleted at once when nothing of it runs any more, else as soon as
    /// its running tasks stopped (``deleteWhenFinished(_:userID:)``).
    /// - Returns: `true` when the tree is gone now, `false` when it goes once its tasks stopped.
    /// - Throws: `not_found`; `conflict` for a running tree without `cancelRunning`.
    public func delete(_ treeID: String, userID: String?, cancelRunning: Bool) async throws -> Bool {
        do {
            try await deleteTree(treeID, userID: userID, mode: .finished)
            return true
        } catch let error as BatonError where error.code == .conflict && cancelRunning {
            _ = try await cancelTree(treeID, userID: userID, message: "Cancelled to delete the tree")
            do {
                try await deleteTree(treeID, userID: userID, mode: .finished)
                return true
            } catch let stillRunning as BatonError where stillRunning.code == .conflict {
                try await deleteWhenFinished(treeID, userID: userID)
                return false
            }
        }
    }

    /// Makes a tree expire the moment it finishes (its retention becomes 0): what
    /// `DELETE …?cancel=true` does to a tree whose running tasks are still stopping. A tree that
    /// finished meanwhile expires at once.
    public func deleteWhenFinished(_ treeID: String, userID: String?) async throws {
        _ = try await treeRecord(treeID, userID: userID)
        try await redis.send("HSET", keys.tree(treeID), "retention_ms", "0")
        // Read after the write: a tree that finished before it kept its old expiry; fix that.
        if try await treeRecord(treeID, userID: userID).isFinished {
            let now = clock()
            try await redis.send("HSET", keys.tree(treeID), "expires_at", String(now))
            try await redis.send("ZADD", keys.expiringTrees, String(now), treeID)
        }
    }

    /// Deletes up to `limit` trees whose retention ran out; a hint whose tree is not due any more
    /// (re-executed, archived) or is gone is dropped. Any number of schedulers may run it.
    /// - Returns: how many trees were deleted.
    @discardableResult
    public func sweepExpiredTrees(limit: Int = 20) async throws -> Int {
        let due = (try await redis.send(RedisCommand(
            "ZRANGEBYSCORE", keys.expiringTrees, "-inf", String(clock()), "LIMIT", "0", String(limit))).array ?? [])
            .compactMap(\.string)
        // Eight at a time: each deletion is a few round trips of its own.
        return try await withThrowingTaskGroup(of: Int.self) { group in
            var deleted = 0
            for (index, treeID) in due.enumerated() {
                if index >= 8, let one = try await group.next() { deleted += one }
                group.addTask {
                    do {
                        try await self.deleteTree(treeID, userID: nil, mode: .expired)
                        return 1
                    } catch let error as BatonError where error.code == .conflict || error.code == .notFound {
                        try await self.redis.send("ZREM", self.keys.expiringTrees, treeID)
                        return 0
                    }
                }
            }
            for try await one in group { deleted += one }
            return deleted
        }
    }
}
