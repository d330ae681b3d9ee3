import BatonCore
import RedisClient

extension BatonStore {
    /// Re-executes a `failed` or `cancelled` task (or a `completed` one with `includeCompleted`):
    /// it and every transitive dependent in its tree that is not completed or running go back to
    /// `pending` in one script (`reexecuteTask.lua`): result, error, progress and timestamps
    /// cleared, attempt kept. Completed work is kept; dependents blocked by the task wait for it
    /// again; the ones whose dependencies are satisfied are queued at once. Events: `task_reset`
    /// per task (then `task_blocked` / `tree_finished` as usual). A finished tree runs again.
    ///
    /// - Parameter userID: the caller (`nil`: admin).
    /// - Returns: the ids reset to `pending`, `taskID` first.
    /// - Throws: ``BatonError`` — `not_found` (missing or another user's), `immutable` (archived
    ///   tree), `conflict` (a link, a pending or running task, or a completed one without
    ///   `includeCompleted`).
    public func reexecute(taskID: String, userID: String?, includeCompleted: Bool = false) async throws -> [String] {
        guard let treeID = try await treeID(ofTask: taskID) else { throw BatonError.taskNotFound(taskID).during("reexecute") }
        let now = clock()
        let arguments = [userID == nil ? "0" : "1", userID ?? "", taskID, includeCompleted ? "1" : "0"]
        let reply = try await run([treeCall(.reexecuteTask, treeID, now: now, arguments)], operation: "reexecute")[0]
        guard let parts = reply.array, parts.count == 2 else {
            throw BatonError.internal("reexecute: unexpected reply \(reply)")
        }
        var outputs = TreeOutputs(reply: parts[0], treeID: treeID)
        // The queued tasks had ended: any lease of theirs still held (an agent keeps an ended
        // attempt's lease until its report is dispatched) goes, or enqueue.lua would not queue them.
        outputs.leases += outputs.ready.map { TreeOutputs.Lease(treeID: $0.treeID, taskID: $0.taskID, executor: $0.executor) }
        try await dispatch(outputs, now: now)
        return parts[1].array?.compactMap(\.string) ?? []
    }
}
