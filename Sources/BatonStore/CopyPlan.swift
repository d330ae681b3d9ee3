import BatonCore

/// The overrides a copy or mixed operation applies to every node (SPEC "Copy, link, archive,
/// mixed"): `inputs`, `params` (objects replacing the node's own), `priority` (0…3), `name`.
struct CopyOverrides: Sendable {
    var inputs: JSONValue?
    var params: JSONValue?
    var priority: Int?
    var name: String?

    static let allowed = ["inputs", "params", "priority", "name"]

    /// Reads and checks `{"inputs", "params", "priority", "name"}`; `nil` or `null` means none.
    /// - Throws: ``BatonError`` `invalid_argument` naming the field (`overrides.priority`, …).
    init(_ value: JSONValue?) throws(BatonError) {
        guard let value, !value.isNull else { return }
        guard let object = value.objectValue else {
            throw BatonError.invalidArgument("overrides must be an object", field: "overrides")
        }
        for key in object.keys.sorted() where !Self.allowed.contains(key) {
            throw BatonError.invalidArgument(
                "overrides.\(key) cannot be overridden; allowed: \(Self.allowed.joined(separator: ", "))",
                field: "overrides.\(key)")
        }
        for key in ["inputs", "params"] {
            guard let item = object[key], !item.isNull else { continue }
            guard item.objectValue != nil else {
                throw BatonError.invalidArgument("overrides.\(key) must be an object", field: "overrides.\(key)")
            }
        }
        // `nil` would be JSONValue.null here (ExpressibleByNilLiteral): take the objects explicitly.
        inputs = object["inputs"]?.objectValue.map(JSONValue.object)
        params = object["params"]?.objectValue.map(JSONValue.object)
        if let item = object["priority"], !item.isNull {
            guard case .int(let priority) = item, TaskRecord.priorityRange.contains(priority) else {
                throw BatonError.invalidArgument("overrides.priority must be an integer between 0 and 3", field: "overrides.priority")
            }
            self.priority = priority
        }
        if let item = object["name"], !item.isNull {
            guard let name = item.stringValue, !name.allSatisfy(\.isWhitespace) else {
                throw BatonError.invalidArgument("overrides.name must be a non-empty string", field: "overrides.name")
            }
            self.name = name
        }
    }

    init() {}
}

/// Which nodes of a source tree a copy takes (pure: indices into the source's task list).
enum CopySelection {
    /// The whole tree (`taskID == nil`); one node alone (`recursive == false`); or the subtree of
    /// `taskID` plus the minimal enclosing part needed for its upstream dependencies: every
    /// dependency in the tree (transitively), and the parent paths that join everything under one
    /// common ancestor, repeated until nothing new is needed. Returned in source order.
    static func indices(of tasks: [TaskRecord], taskID: String?, recursive: Bool) throws(BatonError) -> [Int] {
        guard let taskID else { return Array(tasks.indices) }
        var position: [String: Int] = [:]
        for (index, task) in tasks.enumerated() { position[task.id] = index }
        guard let start = position[taskID] else {
            throw BatonError.notFound("Task \(taskID) not found in this tree", field: "task_id")
        }
        if !recursive { return [start] }

        var parent = [Int?](repeating: nil, count: tasks.count)
        var children: [Int: [Int]] = [:]
        for (index, task) in tasks.enumerated() {
            if let parentID = task.parentID, let p = position[parentID] {
                parent[index] = p
                children[p, default: []].append(index)
            }
        }
        var included = Set<Int>()
        var stack = [start]
        while let node = stack.popLast() {
            if included.insert(node).inserted { stack += children[node] ?? [] }
        }
        var pending = Array(included)
        while !pending.isEmpty {
            // Upstream dependencies in this tree, transitively.
            while let node = pending.popLast() {
                for dependency in tasks[node].dependencies {
                    if let target = position[dependency.id], included.insert(target).inserted { pending.append(target) }
                }
            }
            // Parent paths up to the lowest common ancestor (per root).
            let enclosing = enclose(included, parent: parent)
            pending = Array(enclosing.subtracting(included))
            included = enclosing
        }
        return included.sorted()
    }

    /// `nodes` plus the parent paths joining them: climb to the roots, then drop, from each root
    /// down, tops that are not in `nodes` and have a single enclosed child.
    private static func enclose(_ nodes: Set<Int>, parent: [Int?]) -> Set<Int> {
        var enclosed = nodes
        for node in nodes {
            var current = node
            while let up = parent[current], enclosed.insert(up).inserted { current = up }
        }
        var enclosedChildren: [Int: [Int]] = [:]
        for node in enclosed {
            if let up = parent[node] { enclosedChildren[up, default: []].append(node) }
        }
        for root in enclosed where parent[root] == nil {
            var top = root
            while !nodes.contains(top), let kids = enclosedChildren[top], kids.count == 1 {
                enclosed.remove(top)
                top = kids[0]
            }
        }
        return enclosed
    }
}
