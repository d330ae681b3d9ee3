import BatonCore
import Foundation
import RedisClient

extension BatonStore {
    /// Creates one task: as a child of an existing task (`item.parentID`), joining that task's
    /// tree, or — without a parent — as the root of a new one-task tree (``submit(_:userID:execute:validator:)``).
    ///
    /// A joining task is validated like a one-item submission, then stored by `addTask.lua` on
    /// the parent's tree: it belongs to the tree's owner, counts in the tree's counters, and the
    /// parent gets `has_children`. A dependency on a task of the same tree is an in-tree edge; one
    /// on a task of another tree is watched like a submission's (SPEC "Cross-tree dependencies").
    /// In a started tree the task runs as soon as its dependencies allow; a finished tree is reopened.
    ///
    /// - Parameters:
    ///   - item: the task as submitted; `parentID`, when set, is the id of an existing task.
    ///   - userID: the caller's scope (`nil`: admin). A parent or dependency of another user reads as missing.
    ///   - ownerID: the caller's user id, the owner of a new tree.
    /// - Returns: the stored record.
    /// - Throws: ``BatonError`` — `validation_failed` naming the field (`parent_id`,
    ///   `dependencies[0]`, `priority`, …), `already_exists` for a taken id, `immutable` for an
    ///   archived tree.
    public func addTask(
        _ item: TaskSubmission,
        userID: String?,
        ownerID: String?,
        validator: TreeValidator = TreeValidator()
    ) async throws -> TaskRecord {
        guard let parentID = item.parentID, !parentID.isEmpty else {
            let result: SubmitResult
            do {
                result = try await submit([item], userID: ownerID, execute: true, validator: validator)
            } catch {
                throw Self.singleTaskError(error)
            }
            return try await task(result.taskIDs[0], userID: nil)
        }
        let now = clock()
        var single = item
        single.parentID = nil
        var validated: ValidatedTree
        do {
            validated = try validator.validate([single], now: Timestamp.date(millis: now))
        } catch {
            throw Self.singleTaskError(error)
        }
        var task = validated.tasks[0]
        let tree = try await parentTree(of: parentID, taskName: task.name, userID: userID)
        // Checked before the add (concurrent adds to one full tree may each pass it once).
        guard tree.taskCount < maxTasksPerTree else {
            throw BatonError.payloadTooLarge(
                "Task tree \(tree.id) holds \(tree.taskCount) tasks; limits.max_tasks_per_tree allows \(maxTasksPerTree)", field: "parent_id")
        }

        task.treeID = tree.id
        task.parentID = parentID
        task.userID = tree.userID
        validated = ValidatedTree(
            treeID: tree.id, rootIDs: [], tasks: [task], externalDependencies: validated.externalDependencies)
        let located: [String: String]
        do {
            // The new task belongs to the tree's owner, so its dependencies must be theirs too.
            located = try await locateExternalDependencies(of: validated, userID: tree.userID)
        } catch {
            throw Self.singleTaskError(error)
        }
        let inTree = task.dependencies.filter { located[$0.id] == tree.id }
        let otherTrees = located.filter { $0.value != tree.id }

        // Marked in flight before the id is reserved, as a submission is: if this process dies
        // before the task is queued, the sweep queues it (or gives the id back if it was never stored).
        let token = TaskID.generate()
        let mark = "\(tree.id)\t\(token)"
        try await redis.send("ZADD", keys.inflightSubmissions, String(now), mark)
        do {
            try await reserve([task.id], for: tree.id, token: token, tasks: [task])
        } catch {
            await abandon([task.id], for: tree.id, token: token, mark: mark)
            throw Self.singleTaskError(error)
        }
        var arguments = [task.id, parentID, String(otherTrees.count), String(inTree.count)]
        for dependency in inTree {
            arguments += [dependency.id, dependency.required ? "1" : "0"]
        }
        let fields = TaskHash.fields(of: task, createdAt: now, waiting: 0, dependents: [], queued: false)
        arguments.append(String(fields.count / 2))
        arguments += fields
        let reply: RedisReply
        do {
            reply = try await run([treeCall(.addTask, tree.id, now: now, arguments)], operation: "add task")[0]
        } catch let error as BatonError where error.code != .unavailable {
            // Refused by the script: nothing was written, the id goes back. (Any other failure
            // leaves the outcome unknown: the task may be stored, so its id and the mark stay
            // for the sweep.)
            await abandon([task.id], for: tree.id, token: token, mark: mark)
            throw error
        }

        var outputs = TreeOutputs(reply: reply, treeID: tree.id)
        try await redis.send("HDEL", keys.idReservations(bucket: Keys.bucket(of: task.id)), task.id)
        if !otherTrees.isEmpty {
            outputs.notifications += try await watchExternalDependencies(of: validated, in: otherTrees)
        }
        try await dispatch(outputs, now: now)
        try await redis.send("ZREM", keys.inflightSubmissions, mark)
        return try await self.task(task.id, userID: nil)
    }

    /// The tree of the parent task, if `userID` may see it; otherwise a validation error on `parent_id`.
    private func parentTree(of parentID: String, taskName: String, userID: String?) async throws -> TreeRecord {
        let missing = BatonError.validationFailed(
            "Parent '\(parentID)' of task '\(taskName)' is not an existing task", field: "parent_id")
        guard let treeID = try await treeID(ofTask: parentID) else { throw missing }
        do {
            let tree = try await treeRecord(treeID, userID: userID)
            let exists = try await redis.send("EXISTS", keys.task(treeID, parentID)).int ?? 0
            guard exists == 1 else { throw missing }
            return tree
        } catch let error as BatonError where error.code == .notFound {
            throw missing
        }
    }

    /// A validation error of the one-item array, with fields relative to the task
    /// (`tasks[0].priority` becomes `priority`).
    static func singleTaskError(_ error: any Error) -> any Error {
        guard var batonError = error as? BatonError else { return error }
        func strip(_ text: String) -> String {
            text.replacingOccurrences(of: " at tasks[0]", with: "")
                .replacingOccurrences(of: "tasks[0].", with: "")
        }
        batonError.message = strip(batonError.message)
        if let field = batonError.field {
            let stripped = strip(field)
            batonError.field = stripped == "tasks" || stripped == "tasks[0]" ? nil : stripped
        }
        return batonError
    }
}
