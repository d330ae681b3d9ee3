import BatonCore

/// How a ``TaskRecord`` is laid out in its Redis hash (`<ns>:{t:<tree>}:task:<id>`).
///
/// JSON-valued fields (`dependencies`, `inputs`, `params`, `schemas`, `result`, `backoff`) hold
/// compact JSON text; times are epoch milliseconds; booleans are `0`/`1`; absent optionals are
/// absent fields. Engine fields: `waiting` (dependencies not yet resolved), `queued` (`1` while the
/// task sits in a ready or delayed queue), `dependents` / `xdependents` (newline-separated
/// `R<id>` / `O<id>` lines, `O` for an optional edge; `xdependents` lines are `R<tree>\t<id>`),
/// `retry_at`, and `xs:<dep>` / `xr:<dep>` (status and result of a dependency in another tree).
enum TaskHash {
    /// The hash fields of a new task, in HSET order.
    static func fields(
        of task: TaskRecord,
        createdAt: Int64,
        waiting: Int,
        dependents: [String],
        queued: Bool
    ) -> [String] {
        // Fields at their default value are left out (readers and scripts fill the defaults in):
        // a task hash stays small enough for Redis' compact listpack encoding.
        var fields: [String] = [
            "id", task.id,
            "tree_id", task.treeID,
            "name", task.name,
            "executor", task.executor,
            "priority", String(task.priority),
            "inputs", task.inputs.jsonString(),
            "status", task.status.rawValue,
            "created_at", String(createdAt),
            "waiting", String(waiting),
            "queued", queued ? "1" : "0",
        ]
        func optional(_ name: String, _ value: String?) {
            if let value { fields.append(name); fields.append(value) }
        }
        optional("dependencies", task.dependencies.isEmpty ? nil : JSONValue.array(task.dependencies.map(\.jsonValue)).jsonString())
        optional("params", task.params == .emptyObject ? nil : task.params.jsonString())
        optional("schemas", task.schemas == .emptyObject ? nil : task.schemas.jsonString())
        optional("attempt", task.attempt == 0 ? nil : String(task.attempt))
        optional("origin_type", task.originType == .create ? nil : task.originType.rawValue)
        optional("has_children", task.hasChildren ? "1" : nil)
        optional("has_references", task.hasReferences ? "1" : nil)
        optional("max_attempts", task.maxAttempts == TaskRecord.defaultMaxAttempts ? nil : String(task.maxAttempts))
        optional("max_lease_losses", task.maxLeaseLosses == TaskRecord.defaultMaxLeaseLosses ? nil : String(task.maxLeaseLosses))
        optional("parent_id", task.parentID)
        optional("user_id", task.userID)
        optional("original_task_id", task.originalTaskID)
        optional("timeout_s", task.timeoutSeconds.map { String($0) })
        optional("backoff", task.backoff.map { $0.jsonValue.jsonString() })
        optional("concurrency_key", task.concurrencyKey)
        optional("result", task.result.map { $0.jsonString() })
        optional("error", task.error)
        if !dependents.isEmpty { fields += ["dependents", dependents.joined(separator: "\n")] }
        return fields
    }

    /// Rebuilds a record from `HGETALL`; `nil` when the hash is empty (no such task).
    static func record(from hash: [String: String]) -> TaskRecord? {
        guard let id = hash["id"], let treeID = hash["tree_id"] else { return nil }
        func json(_ name: String) -> JSONValue? {
            hash[name].flatMap { try? JSONValue(parsing: $0) }
        }
        func time(_ name: String) -> String? {
            hash[name].flatMap { Int64($0) }.map { Timestamp.rfc3339(millis: $0) }
        }
        let dependencies = json("dependencies")?.arrayValue?.compactMap { item -> Dependency? in
            guard let depID = item["id"]?.stringValue else { return nil }
            return Dependency(id: depID, required: item["required"]?.boolValue ?? true)
        } ?? []
        let record = TaskRecord(
            id: id,
            treeID: treeID,
            parentID: hash["parent_id"],
            name: hash["name"] ?? "",
            executor: hash["executor"] ?? "",
            userID: hash["user_id"],
            priority: hash["priority"].flatMap { Int($0) } ?? TaskRecord.defaultPriority,
            dependencies: dependencies,
            inputs: json("inputs") ?? .emptyObject,
            params: json("params") ?? .emptyObject,
            schemas: json("schemas") ?? .emptyObject,
            status: hash["status"].flatMap { TaskStatus(rawValue: $0) } ?? .pending,
            result: json("result"),
            error: hash["error"],
            progress: hash["progress"].flatMap { Double($0) } ?? 0,
            createdAt: time("created_at"),
            updatedAt: time("updated_at") ?? time("created_at"),
            startedAt: time("started_at"),
            completedAt: time("completed_at"),
            cancelRequestedAt: time("cancel_requested_at"),
            attempt: hash["attempt"].flatMap { Int($0) } ?? 0,
            originType: hash["origin_type"].flatMap { OriginType(rawValue: $0) } ?? .create,
            originalTaskID: hash["original_task_id"],
            hasChildren: hash["has_children"] == "1",
            hasReferences: hash["has_references"] == "1",
            timeoutSeconds: hash["timeout_s"].flatMap { Double($0) },
            maxAttempts: hash["max_attempts"].flatMap { Int($0) } ?? TaskRecord.defaultMaxAttempts,
            backoff: json("backoff").flatMap(backoffPolicy),
            maxLeaseLosses: hash["max_lease_losses"].flatMap { Int($0) } ?? TaskRecord.defaultMaxLeaseLosses,
            leaseLosses: hash["lease_losses"].flatMap { Int($0) } ?? 0,
            blockedBy: hash["blocked_by"],
            concurrencyKey: hash["concurrency_key"]
        )
        return record
    }

    private static func backoffPolicy(_ value: JSONValue) -> BackoffPolicy? {
        guard let name = value["strategy"]?.stringValue, let strategy = BackoffPolicy.Strategy(rawValue: name),
              let base = value["base_s"]?.doubleValue else { return nil }
        return BackoffPolicy(strategy: strategy, baseSeconds: base)
    }
}
