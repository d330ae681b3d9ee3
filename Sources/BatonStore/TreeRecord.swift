import BatonCore

/// A tree's record: owner, status, counters and progress (`<ns>:{t:<tree>}:tree`).
public struct TreeRecord: Sendable, Hashable {
    public var id: String
    public var userID: String?
    public var rootID: String
    /// `pending` (not started or nothing ran yet), `in_progress`, then `completed`, `failed` or `cancelled`.
    public var status: String
    public var started: Bool
    public var archived: Bool
    public var originType: String
    /// Tasks per status, plus `blocked` (pending tasks that can never run).
    public var counts: [String: Int]
    public var taskCount: Int
    /// Mean of the tasks' progress.
    public var progress: Double
    public var createdAt: String?
    public var updatedAt: String?
    public var finishedAt: String?
    /// When a tree submitted with `run_at` starts (RFC 3339); `nil` for the others.
    public var runAt: String?
    /// When the tree was started: its creation for a tree submitted to run at once, the start
    /// (`POST /v1/trees/{id}/execute`, its `run_at`) for one stored first; `nil` before.
    public var startedAt: String?

    /// `nil` for a hash that is no tree record, and for a tree still being staged in slices
    /// (`status` `staging`, see `submitTree.lua`): no reader sees it before its commit.
    init?(hash: [String: String]) {
        guard let id = hash["id"], hash["status"] != "staging" else { return nil }
        func time(_ name: String) -> String? { hash[name].flatMap { Int64($0) }.map { Timestamp.rfc3339(millis: $0) } }
        self.id = id
        userID = hash["user_id"].flatMap { $0.isEmpty ? nil : $0 }
        rootID = hash["root_id"] ?? id
        status = hash["status"] ?? "pending"
        started = hash["started"] == "1"
        archived = hash["archived"] == "1"
        originType = hash["origin_type"] ?? "create"
        var counts: [String: Int] = [:]
        for status in ["pending", "in_progress", "completed", "failed", "cancelled", "blocked"] {
            counts[status] = hash["n_\(status)"].flatMap { Int($0) } ?? 0
        }
        self.counts = counts
        taskCount = hash["n_total"].flatMap { Int($0) } ?? 0
        let sum = hash["progress_sum"].flatMap { Double($0) } ?? 0
        progress = taskCount > 0 ? min(1, max(0, sum / Double(taskCount))) : 0
        createdAt = time("created_at")
        updatedAt = time("updated_at")
        finishedAt = time("finished_at")
        runAt = time("run_at")
        startedAt = time("started_at") ?? (started ? createdAt : nil)
    }

    /// True once the tree finished (SPEC "Tree finished").
    public var isFinished: Bool { ["completed", "failed", "cancelled"].contains(status) }

    /// The record as JSON (snake_case keys).
    public var jsonValue: JSONValue {
        func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        return .object([
            "tree_id": .string(id),
            "user_id": text(userID),
            "root_id": .string(rootID),
            "status": .string(status),
            "started": .bool(started),
            "archived": .bool(archived),
            "origin_type": .string(originType),
            "counts": .object(counts.mapValues { .int($0) }),
            "task_count": .int(taskCount),
            "progress": .double((progress * 10_000).rounded() / 10_000),
            "created_at": text(createdAt),
            "updated_at": text(updatedAt),
            "finished_at": text(finishedAt),
            "run_at": text(runAt),
            "started_at": text(startedAt),
        ])
    }
}

/// A tree with all its tasks.
public struct TreeSnapshot: Sendable, Hashable {
    public var tree: TreeRecord
    /// Tasks in submission order.
    public var tasks: [TaskRecord]

    /// `{...tree, "tasks": [...]}` with tasks flat, in submission order.
    public var flatJSON: JSONValue { flatJSON(waiting: nil) }

    /// ``flatJSON`` where every task also carries `waiting` (``Waiting``; `null` unless pending).
    public func flatJSON(waiting: [String: Waiting]?) -> JSONValue {
        guard case .object(var object) = tree.jsonValue else { return tree.jsonValue }
        object["tasks"] = .array(tasks.map { Self.taskJSON($0, waiting: waiting) })
        return .object(object)
    }

    /// A task's JSON, with `waiting` when the reasons were computed.
    static func taskJSON(_ task: TaskRecord, waiting: [String: Waiting]?) -> JSONValue {
        guard let waiting, case .object(var object) = task.jsonValue else { return task.jsonValue }
        object["waiting"] = waiting[task.id]?.jsonValue ?? .null
        return .object(object)
    }

    /// `{...tree, "tasks": [root nodes]}` where every task carries its `children`, nested by parent.
    public var nestedJSON: JSONValue { nestedJSON(waiting: nil) }

    /// ``nestedJSON`` where every task also carries `waiting` (``Waiting``; `null` unless pending).
    public func nestedJSON(waiting: [String: Waiting]?) -> JSONValue {
        guard case .object(var object) = tree.jsonValue else { return tree.jsonValue }
        let ids = Set(tasks.map(\.id))
        var children: [String: [Int]] = [:]
        var roots: [Int] = []
        for (index, task) in tasks.enumerated() {
            if let parent = task.parentID, ids.contains(parent) {
                children[parent, default: []].append(index)
            } else {
                roots.append(index)
            }
        }
        // Build bottom-up without recursion: deep trees (100k-step chains) must not overflow the stack.
        var built: [Int: JSONValue] = [:]
        var stack: [(index: Int, expanded: Bool)] = roots.reversed().map { ($0, false) }
        while let (index, expanded) = stack.popLast() {
            let kids = children[tasks[index].id] ?? []
            if !expanded {
                stack.append((index, true))
                for kid in kids.reversed() { stack.append((kid, false)) }
                continue
            }
            guard case .object(var node) = Self.taskJSON(tasks[index], waiting: waiting) else { continue }
            node["children"] = .array(kids.compactMap { built.removeValue(forKey: $0) })
            built[index] = .object(node)
        }
        object["tasks"] = .array(roots.compactMap { built[$0] })
        return .object(object)
    }
}
