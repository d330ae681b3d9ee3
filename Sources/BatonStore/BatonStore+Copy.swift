import BatonCore
import Foundation
import RedisClient

/// Copy, link, mixed and archive (SPEC "Copy, link, archive, mixed"): operations on the key space
/// that never run anything.
///
/// Atomicity: a copy, link or mixed tree is a new tree with a new root id, hence a new hash tag.
/// The source is read first (its tree record and task hashes, in one call), the new records are
/// built in Swift from what was read, and the whole new tree is written by `submitTree.lua` on
/// its own slot, after its ids were reserved — exactly as a submission is (in slices for a big
/// tree): every task or none. The source changes only by `has_references=1` (`markReferences.lua`,
/// afterwards, on the source's slot, 250 tasks per call). A source task that changes between the
/// read and the write is copied as it was read (copies reset the run state anyway; a link keeps
/// the result it read as `link_result`).
extension BatonStore {
    /// Copies a tree (or the subtree of `taskID` plus the minimal enclosing part needed for its
    /// upstream dependencies; or, with `recursive: false`, that one task alone, without parent or
    /// dependencies) into a new tree: new ids, `origin_type=copy`, `original_task_id` = the most
    /// original source, status `pending` with run state reset, dependencies remapped, input keys
    /// equal to old dependency ids removed, `overrides` applied to every node. The copy is stored,
    /// not started: run it with ``startTree(_:userID:)``. Works on any tree, finished or not.
    ///
    /// - Parameters:
    ///   - userID: the caller (`nil`: admin). Another user's tree reads as missing.
    ///   - ownerID: who owns the copy; only an admin may copy for another user.
    ///   - overrides: `{"inputs", "params", "priority", "name"}`.
    /// - Throws: ``BatonError`` — `not_found` (tree, or `taskID` not in it), `invalid_argument`
    ///   (overrides, naming the field), `forbidden` (copy for another user by a non-admin).
    ///   - token: names this copy: a copy made again with the same token (a schedule's run fired by
    ///     two schedulers, or again after a crash) gets the same ids and finds the first one.
    public func copyTree(
        _ treeID: String, userID: String?, ownerID: String?, taskID: String? = nil,
        recursive: Bool = true, overrides: JSONValue? = nil, token: String? = nil
    ) async throws -> SubmitResult {
        let overrides = try CopyOverrides(overrides)
        try Self.checkCopyOwner(userID: userID, ownerID: ownerID)
        let source = try await copySource(treeID, userID: userID)
        let selection = try CopySelection.indices(of: source.tasks, taskID: taskID, recursive: recursive)
        return try await storeCopy(source, selection: selection, linked: [], origin: "copy", ownerID: ownerID,
                                   overrides: overrides, keepDependencies: recursive, token: token)
    }

    /// Links a fully completed tree (or the subtree of `taskID`, enclosed like a copy's): new ids,
    /// `origin_type=link`, status `completed`, no data of their own — reads and dependency
    /// injection resolve to the first non-link original. A link is never executed.
    ///
    /// - Parameters:
    ///   - userID: the caller (`nil`: admin). Another user's tree reads as missing.
    ///   - ownerID: who owns the links; every linked node must belong to this user.
    /// - Throws: ``BatonError`` — `not_found`, `conflict` (`Only a fully completed task tree can be
    ///   linked`), `forbidden` (`Deny linking to a different user's task.`).
    public func linkTree(_ treeID: String, userID: String?, ownerID: String?, taskID: String? = nil) async throws -> SubmitResult {
        let source = try await copySource(treeID, userID: userID)
        guard !source.tasks.isEmpty, source.tasks.allSatisfy({ $0.status == .completed }) else {
            throw BatonError.conflict("Only a fully completed task tree can be linked", field: "tree_id").during("link")
        }
        let selection = try CopySelection.indices(of: source.tasks, taskID: taskID, recursive: true)
        let linked = Set(selection.map { source.tasks[$0].id })
        return try await storeCopy(source, selection: selection, linked: linked, origin: "link", ownerID: ownerID,
                                   overrides: CopyOverrides(), keepDependencies: true)
    }

    /// A copy (see ``copyTree(_:userID:ownerID:taskID:recursive:overrides:)``) in which the tasks
    /// of `linkTaskIDs` (completed, inside the copied part) become links; the link check for
    /// other users applies to them. Stored, not started: ``startTree(_:userID:)`` runs the copied part.
    ///
    /// - Throws: ``BatonError`` — as copy and link; `invalid_argument` (`link_task_ids[i]` not in
    ///   the copied part), `conflict` (`link_task_ids[i]` not completed).
    public func mixedTree(
        _ treeID: String, userID: String?, ownerID: String?, taskID: String? = nil,
        linkTaskIDs: [String], overrides: JSONValue? = nil
    ) async throws -> SubmitResult {
        let overrides = try CopyOverrides(overrides)
        try Self.checkCopyOwner(userID: userID, ownerID: ownerID)
        let source = try await copySource(treeID, userID: userID)
        let selection = try CopySelection.indices(of: source.tasks, taskID: taskID, recursive: true)
        let selected = Dictionary(uniqueKeysWithValues: selection.map { (source.tasks[$0].id, source.tasks[$0]) })
        for (position, id) in linkTaskIDs.enumerated() {
            guard let task = selected[id] else {
                throw BatonError.invalidArgument("Task \(id) is not part of the copied tree", field: "link_task_ids[\(position)]")
            }
            guard task.status == .completed else {
                throw BatonError.conflict(
                    "Task \(id) is \(task.status.rawValue); only a completed task can be linked", field: "link_task_ids[\(position)]")
            }
        }
        return try await storeCopy(source, selection: selection, linked: Set(linkTaskIDs), origin: "mixed",
                                   ownerID: ownerID, overrides: overrides, keepDependencies: true)
    }

    /// Archives a fully completed tree in place: same ids, `origin_type=archive`, and from then on
    /// every change, cancel, re-execution or new child is refused (`Archived task X is immutable;
    /// copy it before editing`). Link nodes get their originals' data written into them.
    /// Archiving an archived tree changes nothing.
    ///
    /// A tree is archived in slices of ``archiveSliceTasks`` tasks, one short script each: the
    /// first makes the tree archived (immutable) at once, the last emits `tree_archived`; an
    /// archive that was interrupted in between is finished by the next call.
    ///
    /// - Throws: ``BatonError`` — `not_found`, `conflict` (`Only a fully completed task tree can be archived`).
    public func archiveTree(_ treeID: String, userID: String?) async throws -> TreeRecord {
        let record = try await treeRecord(treeID, userID: userID)
        let resuming = try await redis.send("HGET", keys.tree(treeID), "archiving").string == "1"
        if record.archived && !resuming { return record }
        // Slices of ranks, each with its own link nodes' data read just before (a link tree's
        // originals may be deleted later: the archive keeps their data itself).
        let hasLinks = resuming || ["link", "mixed"].contains(record.originType)
        var first = 0
        repeat {
            let last = first + Self.archiveSliceTasks - 1
            var arguments = [userID == nil ? "0" : "1", userID ?? "", String(first), String(last), last >= record.taskCount - 1 ? "1" : "0"]
            if hasLinks {
                let ids = (try await redis.send("ZRANGE", keys.treeTasks(treeID), String(first), String(last)).array ?? []).compactMap(\.string)
                let hashes = try await taskHashes(ids, inTree: treeID).filter { $0["origin_type"] == OriginType.link.rawValue }
                for link in try await resolvingLinks(hashes) {
                    let fields = [
                        "executor", link.executor, "inputs", link.inputs.jsonString(), "params", link.params.jsonString(),
                        "schemas", link.schemas.jsonString(), "result", (link.result ?? .null).jsonString(),
                    ]
                    arguments += [link.id, String(fields.count / 2)] + fields
                }
            }
            _ = try await run([treeCall(.archiveTree, treeID, now: clock(), arguments)], operation: "archive")
            first += Self.archiveSliceTasks
        } while first < record.taskCount
        return try await treeRecord(treeID, userID: userID)
    }

    /// Tasks per `archiveTree.lua` call.
    static let archiveSliceTasks = 500

    // MARK: Steps

    /// A source tree as read for a copy: raw hashes (for link targets) and resolved records.
    struct CopySource {
        var tree: TreeRecord
        var hashes: [[String: String]]
        var tasks: [TaskRecord]
    }

    private func copySource(_ treeID: String, userID: String?) async throws -> CopySource {
        let tree = try await treeRecord(treeID, userID: userID)
        let hashes = try await taskHashes(try await taskIDs(ofTree: treeID), inTree: treeID)
        return CopySource(tree: tree, hashes: hashes, tasks: try await resolvingLinks(hashes))
    }

    private static func checkCopyOwner(userID: String?, ownerID: String?) throws {
        if let userID, ownerID != userID {
            throw BatonError.forbidden("Only an administrator can copy a tree for another user")
        }
    }

    /// Builds the new tree's records from the selected source nodes and stores it like a submission.
    private func storeCopy(
        _ source: CopySource, selection: [Int], linked: Set<String>, origin: String, ownerID: String?,
        overrides: CopyOverrides, keepDependencies: Bool, token: String? = nil
    ) async throws -> SubmitResult {
        let now = clock()
        let timestamp = Timestamp.rfc3339(millis: now)
        let sourceIDs = Set(source.tasks.map(\.id))
        var newID: [String: String] = [:]
        for (position, index) in selection.enumerated() {
            newID[source.tasks[index].id] = token.map { TaskID.deterministic(seed: $0, position: position + 1) } ?? TaskID.generate()
        }
        let roots = selection.filter { source.tasks[$0].parentID.flatMap { newID[$0] } == nil }
        guard let firstRoot = roots.first else {
            throw BatonError.notFound("Task tree \(source.tree.id) has no task to copy", field: "tree_id")
        }
        let treeID = newID[source.tasks[firstRoot].id]!
        var parents = Set<String>()
        for index in selection { if let parent = source.tasks[index].parentID.flatMap({ newID[$0] }) { parents.insert(parent) } }

        var records: [TaskRecord] = []
        records.reserveCapacity(selection.count)
        var links: [String: StoredLink] = [:]
        var external = Set<String>()
        for index in selection {
            let task = source.tasks[index]
            let id = newID[task.id]!
            let isLink = linked.contains(task.id)
            if isLink, (task.userID ?? "") != (ownerID ?? "") {
                throw BatonError.forbidden("Deny linking to a different user's task.").during(origin)
            }
            var dependencies: [Dependency] = []
            if keepDependencies {
                for dependency in task.dependencies {
                    if let mapped = newID[dependency.id] {
                        dependencies.append(Dependency(id: mapped, required: dependency.required))
                    } else if !sourceIDs.contains(dependency.id) && !isLink {
                        dependencies.append(dependency)  // a task of another tree: depended on as before
                        external.insert(dependency.id)
                    }
                }
            }
            var record = TaskRecord(
                id: id, treeID: treeID, parentID: task.parentID.flatMap { newID[$0] },
                name: overrides.name ?? task.name, executor: task.executor, userID: ownerID,
                priority: overrides.priority ?? task.priority, dependencies: dependencies,
                createdAt: timestamp, updatedAt: timestamp, hasChildren: parents.contains(id),
                timeoutSeconds: task.timeoutSeconds, maxAttempts: task.maxAttempts, backoff: task.backoff,
                maxLeaseLosses: task.maxLeaseLosses, concurrencyKey: task.concurrencyKey)
            if isLink {
                let hash = source.hashes[index]
                let isLinkAlready = task.originType == .link
                record.status = .completed
                record.progress = 1
                record.originType = .link
                record.originalTaskID = isLinkAlready ? task.originalTaskID : task.id
                links[id] = StoredLink(
                    originalTree: isLinkAlready ? (hash["link_tree"] ?? "") : source.tree.id,
                    result: (task.result ?? .null).jsonString())
            } else {
                let dependencyKeys = Set(task.dependencies.map(\.id))
                record.inputs = overrides.inputs ?? .object((task.inputs.objectValue ?? [:]).filter { !dependencyKeys.contains($0.key) })
                record.params = overrides.params ?? task.params
                record.schemas = task.schemas
                record.originType = .copy
                record.originalTaskID = task.originalTaskID ?? task.id
            }
            records.append(record)
        }
        let tree = ValidatedTree(
            treeID: treeID, rootIDs: roots.map { newID[source.tasks[$0].id]! }, tasks: records, externalDependencies: external)
        let result = try await store(
            tree, userID: ownerID, execute: false, now: now, origin: origin, links: links, token: token ?? TaskID.generate())
        // 250 tasks per call: marking a big source never holds Redis long (the mark is
        // idempotent, and made after the copy was stored, as before).
        let marked = selection.map { source.tasks[$0].id }
        for start in stride(from: 0, to: marked.count, by: 250) {
            let slice = Array(marked[start..<min(start + 250, marked.count)])
            _ = try await run([ScriptCall.treeRecord(.markReferences, tree: source.tree.id, keys: keys, arguments: slice)],
                              operation: origin)
        }
        return result
    }
}
