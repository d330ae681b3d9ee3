import Foundation

/// Checks a submitted task array against every creation rule (SPEC "Users and safety", apflow's
/// array validation) and turns it into ``TaskRecord``s, all or nothing.
///
/// Runs in time linear in the number of tasks and dependencies: dictionaries for look-ups,
/// iterative walks for cycles (no recursion, so deep chains cannot overflow the stack).
/// Every error is a ``BatonError`` whose ``BatonError/field`` names the offending field
/// (`tasks[3].dependencies[1]`) and whose message names the task.
public struct TreeValidator: Sendable, Hashable {
    /// The longest task id, in UTF-8 bytes.
    public static let maxIDBytes = Identifier.maxBytes
    /// The longest executor type name, in UTF-8 bytes.
    public static let maxExecutorBytes = Identifier.maxBytes

    /// The executor types this deployment runs, or `nil` to accept any.
    public var knownExecutors: Set<String>?
    /// The largest array accepted; a larger one is refused with `payload_too_large`. The default
    /// is the highest `limits.max_tasks_per_tree` a deployment may set: the store refuses trees
    /// beyond the deployment's own limit before it validates them.
    public var maxTasks: Int

    /// Creates a validator.
    public init(knownExecutors: Set<String>? = nil, maxTasks: Int = 10_000_000) {
        self.knownExecutors = knownExecutors
        self.maxTasks = maxTasks
    }

    /// Validates `items` and builds the records of one new tree.
    ///
    /// - Parameters:
    ///   - items: the submitted array, in client order.
    ///   - now: the creation time written to `created_at` and `updated_at`.
    ///   - newID: generates an id for a task that has none (a lowercase UUID v4 by default).
    /// - Throws: ``BatonError`` `validation_failed` (or `payload_too_large` beyond ``maxTasks``).
    public func validate(
        _ items: [TaskSubmission],
        now: Date,
        newID: () -> String = TaskID.generate
    ) throws(BatonError) -> ValidatedTree {
        guard !items.isEmpty else {
            throw BatonError.validationFailed("Task array must not be empty", field: "tasks")
        }
        guard items.count <= maxTasks else {
            throw BatonError.payloadTooLarge(
                "Task array has \(items.count) tasks; at most \(maxTasks) are allowed", field: "tasks")
        }
        var index = try checkItems(items)
        try index.assignMissingIDs(newID)
        let parents = try resolveParents(items, index)
        let dependencies = try resolveDependencies(items, index)
        if let cycleTask = Self.findParentCycle(parents: parents) {
            throw BatonError.validationFailed(
                "Circular parent relationship detected involving task '\(index.names[cycleTask])'",
                field: "tasks[\(cycleTask)].parent_id")
        }
        if let (cycleTask, position) = Self.findDependencyCycle(dependencies.graph) {
            throw BatonError.validationFailed(
                "Circular dependency detected involving task '\(index.names[cycleTask])'",
                field: "tasks[\(cycleTask)].dependencies[\(position)]")
        }
        return buildTree(items, index, parents, dependencies, now: now)
    }

    // MARK: - Per-item rules

    /// Names, ids, ranges and executors of every item, in array order.
    private func checkItems(_ items: [TaskSubmission]) throws(BatonError) -> TaskIndex {
        var index = TaskIndex(capacity: items.count)
        for (position, item) in items.enumerated() {
            let path = "tasks[\(position)]"
            guard let name = item.name, !name.allSatisfy(\.isWhitespace) else {
                throw BatonError.validationFailed("Task at \(path) must have a non-empty name", field: "\(path).name")
            }
            guard index.nameToIndex.updateValue(position, forKey: name) == nil else {
                throw BatonError.validationFailed("Duplicate task name '\(name)'", field: "\(path).name")
            }
            index.names.append(name)
            if let id = item.id {
                if let problem = Self.idProblem(id) {
                    throw BatonError.validationFailed("\(path).id \(problem) (task '\(name)')", field: "\(path).id")
                }
                guard index.idToIndex.updateValue(position, forKey: id) == nil else {
                    throw BatonError.validationFailed("Duplicate task id '\(id)'", field: "\(path).id")
                }
            }
            index.ids.append(item.id)
            try checkSettings(item, name: name, path: path)
            try checkExecutor(item, name: name, path: path)
        }
        return index
    }

    private func checkSettings(_ item: TaskSubmission, name: String, path: String) throws(BatonError) {
        if let priority = item.priority, !TaskRecord.priorityRange.contains(priority) {
            throw BatonError.validationFailed(
                "\(path).priority must be between 0 and 3 (task '\(name)')", field: "\(path).priority")
        }
        if let timeout = item.timeoutSeconds, !TaskRecord.timeoutRange.contains(timeout) {
            throw BatonError.validationFailed(
                "\(path).timeout_s must be \(TaskRecord.timeoutRangeText) (task '\(name)')", field: "\(path).timeout_s")
        }
        if let key = item.concurrencyKey, !TaskRecord.isValidConcurrencyKey(key) {
            throw BatonError.validationFailed(
                "\(path).concurrency_key must be 1 to \(TaskRecord.maxConcurrencyKeyBytes) bytes without control characters (task '\(name)')",
                field: "\(path).concurrency_key")
        }
        if let attempts = item.maxAttempts, !TaskRecord.maxAttemptsRange.contains(attempts) {
            throw BatonError.validationFailed(
                "\(path).max_attempts must be between 1 and 100 (task '\(name)')", field: "\(path).max_attempts")
        }
        if let backoff = item.backoff, !(0...BackoffPolicy.maxBaseSeconds).contains(backoff.baseSeconds) {
            throw BatonError.validationFailed(
                "\(path).backoff.base_s must be between 0 and 3600 (task '\(name)')", field: "\(path).backoff.base_s")
        }
        for (key, value) in [("inputs", item.inputs), ("params", item.params), ("schemas", item.schemas)]
        where value.objectValue == nil {
            throw BatonError.validationFailed("\(path).\(key) must be an object (task '\(name)')", field: "\(path).\(key)")
        }
    }

    private func checkExecutor(_ item: TaskSubmission, name: String, path: String) throws(BatonError) {
        if let explicit = item.executor, explicit.isEmpty {
            throw BatonError.validationFailed(
                "\(path).executor must not be empty (task '\(name)')", field: "\(path).executor")
        }
        guard let (executor, source) = item.executorSource else { return }
        if let problem = Identifier.problem(executor) {
            throw BatonError.validationFailed(
                "Invalid executor '\(executor)' for task '\(name)': an executor type \(problem)",
                field: "\(path).\(source)")
        }
        if let knownExecutors, !knownExecutors.contains(executor) {
            throw BatonError.validationFailed(
                "Unknown executor '\(executor)' for task '\(name)'", field: "\(path).\(source)")
        }
    }

    /// Why `id` is not a valid task id, or `nil` when it is (see ``Identifier``).
    static func idProblem(_ id: String) -> String? {
        Identifier.problem(id)
    }

    // MARK: - References

    /// The parent index of every task (`-1` for roots). Requires at least one root.
    private func resolveParents(_ items: [TaskSubmission], _ index: TaskIndex) throws(BatonError) -> [Int] {
        var parents = [Int](repeating: -1, count: items.count)
        var hasRoot = false
        for (position, item) in items.enumerated() {
            // An empty parent_id means "no parent", as in apflow.
            guard let parentRef = item.parentID, !parentRef.isEmpty else {
                hasRoot = true
                continue
            }
            guard let parent = index.lookup(parentRef) else {
                throw BatonError.validationFailed(
                    "Parent '\(parentRef)' of task '\(index.names[position])' is not a valid id or name in the task array",
                    field: "tasks[\(position)].parent_id")
            }
            parents[position] = parent
        }
        guard hasRoot else {
            throw BatonError.validationFailed("At least one task must be a root (without parent_id)", field: "tasks")
        }
        return parents
    }

    /// Resolves every dependency to an id, removes duplicates (first occurrence wins), refuses
    /// self-dependencies and unknown names, and collects external ids and the internal graph.
    private func resolveDependencies(
        _ items: [TaskSubmission], _ index: TaskIndex
    ) throws(BatonError) -> ResolvedDependencies {
        var resolved = ResolvedDependencies(taskCount: items.count)
        var seen = Set<String>()
        for (position, item) in items.enumerated() {
            let name = index.names[position]
            var list: [Dependency] = []
            list.reserveCapacity(item.dependencies.count)
            seen.removeAll(keepingCapacity: true)
            for (depPosition, reference) in item.dependencies.enumerated() {
                let field = "tasks[\(position)].dependencies[\(depPosition)]"
                let target: Int?
                switch reference.kind {
                case .id: target = index.lookup(reference.key)
                case .name: target = index.nameToIndex[reference.key] ?? index.idToIndex[reference.key]
                }
                let id: String
                if let target {
                    guard target != position else {
                        throw BatonError.validationFailed("Task '\(name)' cannot depend on itself", field: field)
                    }
                    id = index.resolvedIDs[target]
                } else if reference.kind == .name {
                    throw BatonError.validationFailed(
                        "Dependency '\(reference.key)' of task '\(name)' is not a valid name in the task array",
                        field: field)
                } else if let problem = Self.idProblem(reference.key) {
                    throw BatonError.validationFailed("\(field) \(problem) (task '\(name)')", field: field)
                } else {
                    id = reference.key
                }
                guard seen.insert(id).inserted else { continue }
                list.append(Dependency(id: id, required: reference.required))
                if let target {
                    resolved.graph.targets.append(target)
                    resolved.graph.positions.append(depPosition)
                } else {
                    resolved.external.insert(id)
                }
            }
            resolved.graph.starts.append(resolved.graph.targets.count)
            resolved.lists.append(list)
        }
        return resolved
    }

    // MARK: - Output

    private func buildTree(
        _ items: [TaskSubmission],
        _ index: TaskIndex,
        _ parents: [Int],
        _ dependencies: ResolvedDependencies,
        now: Date
    ) -> ValidatedTree {
        let timestamp = Timestamp.rfc3339(now)
        var hasChildren = [Bool](repeating: false, count: items.count)
        for parent in parents where parent >= 0 { hasChildren[parent] = true }
        let rootIDs = parents.indices.filter { parents[$0] < 0 }.map { index.resolvedIDs[$0] }
        let treeID = rootIDs[0]
        var records: [TaskRecord] = []
        records.reserveCapacity(items.count)
        for (position, item) in items.enumerated() {
            let parent = parents[position]
            records.append(
                TaskRecord(
                    id: index.resolvedIDs[position],
                    treeID: treeID,
                    parentID: parent >= 0 ? index.resolvedIDs[parent] : nil,
                    name: index.names[position],
                    executor: item.resolvedExecutor ?? index.names[position],
                    priority: item.priority ?? TaskRecord.defaultPriority,
                    dependencies: dependencies.lists[position],
                    inputs: item.inputs,
                    params: item.params,
                    schemas: item.schemas,
                    status: .pending,
                    createdAt: timestamp,
                    updatedAt: timestamp,
                    originType: .create,
                    hasChildren: hasChildren[position],
                    timeoutSeconds: item.timeoutSeconds,
                    maxAttempts: item.maxAttempts ?? TaskRecord.defaultMaxAttempts,
                    backoff: item.backoff,
                    concurrencyKey: item.concurrencyKey
                ))
        }
        return ValidatedTree(
            treeID: treeID, rootIDs: rootIDs, tasks: records, externalDependencies: dependencies.external)
    }
}
