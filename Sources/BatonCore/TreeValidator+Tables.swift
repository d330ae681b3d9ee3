// Internal tables of TreeValidator: look-ups by id and name, resolved dependencies, the graph.

/// Look-up tables built while checking the items.
struct TaskIndex {
    var names: [String] = []
    /// Client-supplied ids (`nil` where absent) until ``assignMissingIDs(_:)``.
    var ids: [String?] = []
    var resolvedIDs: [String] = []
    var nameToIndex: [String: Int] = [:]
    var idToIndex: [String: Int] = [:]

    init(capacity: Int) {
        names.reserveCapacity(capacity)
        ids.reserveCapacity(capacity)
        nameToIndex.reserveCapacity(capacity)
        idToIndex.reserveCapacity(capacity)
    }

    /// A task of the array by id, else by name.
    func lookup(_ reference: String) -> Int? {
        idToIndex[reference] ?? nameToIndex[reference]
    }

    /// Gives every task without an id a fresh one that collides with no other id of the array.
    mutating func assignMissingIDs(_ newID: () -> String) throws(BatonError) {
        resolvedIDs.reserveCapacity(ids.count)
        for (position, id) in ids.enumerated() {
            if let id {
                resolvedIDs.append(id)
                continue
            }
            var generated = newID()
            var tries = 1
            while idToIndex[generated] != nil || TreeValidator.idProblem(generated) != nil {
                guard tries < 16 else { throw BatonError.internal("Could not generate a unique task id") }
                generated = newID()
                tries += 1
            }
            idToIndex[generated] = position
            resolvedIDs.append(generated)
        }
    }
}

/// Dependencies resolved to ids, per task, and the in-array dependency graph.
struct ResolvedDependencies {
    var lists: [[Dependency]] = []
    var external = Set<String>()
    var graph = DependencyGraph()

    init(taskCount: Int) {
        lists.reserveCapacity(taskCount)
        graph.starts.reserveCapacity(taskCount + 1)
    }
}

/// Edges from a task to the tasks of the array it depends on, in compressed-row form:
/// the dependencies of task `i` are `targets[starts[i]..<starts[i + 1]]`, and `positions` holds
/// each edge's index in the task's `dependencies` list as submitted.
struct DependencyGraph {
    var starts: [Int] = [0]
    var targets: [Int] = []
    var positions: [Int] = []

    var taskCount: Int { starts.count - 1 }

    func edges(of task: Int) -> Range<Int> {
        starts[task]..<starts[task + 1]
    }
}
