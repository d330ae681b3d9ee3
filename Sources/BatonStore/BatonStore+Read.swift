import BatonCore
import Foundation
import RedisClient

/// Filters of ``BatonStore/listTasks(userID:filter:limit:cursor:)``.
public struct TaskFilter: Sendable, Hashable {
    public var status: TaskStatus?
    public var treeID: String?
    public var executor: String?

    public init(status: TaskStatus? = nil, treeID: String? = nil, executor: String? = nil) {
        self.status = status
        self.treeID = treeID
        self.executor = executor
    }
}

/// One page of a task listing.
public struct TaskPage: Sendable, Hashable {
    public var tasks: [TaskRecord]
    /// Pass it back to get the next page; `nil` on the last page.
    public var nextCursor: String?
}

extension BatonStore {
    /// A task as its owner (or an admin, `userID == nil`) sees it.
    /// - Throws: `not_found` when it does not exist or belongs to another user.
    public func task(_ taskID: String, userID: String?) async throws -> TaskRecord {
        try await taskAndHash(taskID, userID: userID).record
    }

    /// A task as its owner sees it, and its raw hash (engine fields included).
    func taskAndHash(_ taskID: String, userID: String?) async throws -> (record: TaskRecord, hash: [String: String]) {
        guard let treeID = try await treeID(ofTask: taskID) else { throw BatonError.taskNotFound(taskID) }
        // The tree's status rides along: a task of a tree still being staged is not there yet.
        let replies = try await redis.pipeline([
            RedisCommand("HGETALL", keys.task(treeID, taskID)), RedisCommand("HGET", keys.tree(treeID), "status"),
        ])
        let hash = replies[0].stringDictionary ?? [:]
        guard replies[1].string != "staging", TaskHash.record(from: hash).map({ userID == nil || $0.userID == userID }) == true,
              let record = try await resolvingLinks([hash]).first
        else {
            throw BatonError.taskNotFound(taskID)
        }
        return (record, hash)
    }

    /// The tree record alone.
    public func treeRecord(_ treeID: String, userID: String?) async throws -> TreeRecord {
        let hash = try await redis.send("HGETALL", keys.tree(treeID)).stringDictionary ?? [:]
        guard let record = TreeRecord(hash: hash), userID == nil || (record.userID ?? "") == userID else {
            throw BatonError.notFound("Task tree \(treeID) not found", field: "tree_id")
        }
        return record
    }

    /// Throws `not_found` unless the tree exists and `userID` (nil: admin) may see it.
    func checkOwner(ofTree treeID: String, userID: String?) async throws {
        _ = try await treeRecord(treeID, userID: userID)
    }

    /// A tree with every task, in submission order.
    /// - Throws: `not_found`; `payload_too_large` (field `tree_id`) for a tree of more than
    ///   ``maxTasksPerRead`` tasks, to be paged through with ``listTasks(userID:filter:limit:cursor:)``.
    public func tree(_ treeID: String, userID: String?) async throws -> TreeSnapshot {
        let record = try await readableTreeRecord(treeID, userID: userID)
        return TreeSnapshot(tree: record, tasks: try await tasks(try await taskIDs(ofTree: treeID), inTree: treeID))
    }

    /// The tree record of a tree read whole: refused beyond ``maxTasksPerRead`` tasks.
    func readableTreeRecord(_ treeID: String, userID: String?) async throws -> TreeRecord {
        let record = try await treeRecord(treeID, userID: userID)
        guard record.taskCount <= maxTasksPerRead else {
            throw BatonError.payloadTooLarge(
                "Task tree \(treeID) has \(record.taskCount) tasks; a read of a whole tree returns at most \(maxTasksPerRead) "
                    + "(limits.max_tasks_per_read): page through GET /v1/tasks?tree_id=\(treeID)", field: "tree_id")
        }
        return record
    }

    /// A tree's task ids in submission order, read 10,000 at a time (one `ZRANGE` of a
    /// million-task tree would hold Redis for ~100 ms).
    func taskIDs(ofTree treeID: String) async throws -> [String] {
        var ids: [String] = []
        while true {
            let chunk = (try await redis.send(
                "ZRANGE", keys.treeTasks(treeID), String(ids.count), String(ids.count + 9_999)).array ?? []).compactMap(\.string)
            ids += chunk
            if chunk.count < 10_000 { return ids }
        }
    }

    /// Full records of tasks of one tree, fetched in pipelined chunks; link nodes read as their
    /// originals (see ``resolvingLinks(_:)``).
    func tasks(_ ids: [String], inTree treeID: String) async throws -> [TaskRecord] {
        try await resolvingLinks(try await taskHashes(ids, inTree: treeID))
    }

    /// The raw hashes of tasks of one tree (missing ones left out), fetched in pipelined chunks.
    func taskHashes(_ ids: [String], inTree treeID: String) async throws -> [[String: String]] {
        var hashes: [[String: String]] = []
        hashes.reserveCapacity(ids.count)
        var start = 0
        while start < ids.count {
            let chunk = ids[start..<min(start + 1000, ids.count)]
            let replies = try await redis.pipeline(chunk.map { RedisCommand("HGETALL", keys.task(treeID, $0)) })
            hashes += replies.compactMap { reply in reply.stringDictionary.flatMap { $0.isEmpty ? nil : $0 } }
            start += chunk.count
        }
        return hashes
    }

    /// The caller's tasks (all users' for an admin, `userID == nil`), oldest tree first, in
    /// submission order within a tree, filtered, `limit` at a time.
    ///
    /// The cursor is opaque to clients: it names the tree and position where the next page starts.
    public func listTasks(userID: String?, filter: TaskFilter = TaskFilter(), limit: Int = 100, cursor: String? = nil) async throws -> TaskPage {
        let limit = max(1, min(limit, 1000))
        let position = try Cursor(cursor)
        let treeIndex = userID.map { keys.userTrees($0) } ?? keys.allTrees
        var trees: [String]
        if let treeID = filter.treeID {
            try await checkOwner(ofTree: treeID, userID: userID)
            trees = [treeID]
        } else {
            trees = (try await redis.send("ZRANGE", treeIndex, "0", "-1").array ?? []).compactMap(\.string)
        }
        if let startTree = position.treeID {
            guard let index = trees.firstIndex(of: startTree) else {
                throw BatonError.invalidArgument("cursor does not belong to this listing", field: "cursor")
            }
            trees.removeFirst(index)
            let size = try await redis.send("ZCARD", keys.treeTasks(startTree)).int ?? 0
            guard position.offset <= size else {
                throw BatonError.invalidArgument("cursor points past the end of this listing", field: "cursor")
            }
        }
        var page: [TaskRecord] = []
        for (treeNumber, treeID) in trees.enumerated() {
            var offset = treeNumber == 0 ? position.offset : 0
            while true {
                let ids = (try await redis.send(
                    "ZRANGE", keys.treeTasks(treeID), String(offset), String(offset + 199)).array ?? []).compactMap(\.string)
                if ids.isEmpty { break }
                for (step, record) in try await tasks(ids, inTree: treeID).enumerated() {
                    guard filter.status.map({ $0 == record.status }) ?? true,
                          filter.executor.map({ $0 == record.executor }) ?? true else { continue }
                    if page.count == limit {
                        return TaskPage(tasks: page, nextCursor: Cursor(treeID: treeID, offset: offset + step).text)
                    }
                    page.append(record)
                }
                offset += ids.count
            }
        }
        return TaskPage(tasks: page, nextCursor: nil)
    }
}
