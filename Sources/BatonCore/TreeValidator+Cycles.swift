extension TreeValidator {
    /// A task on a parent cycle (the one with the lowest index on that cycle), or `nil`.
    ///
    /// `parents[i]` is the parent index of task `i`, or `-1` for a root. Each task has at most
    /// one parent, so walking up from every task, marking the walk, finds every cycle in linear time.
    static func findParentCycle(parents: [Int]) -> Int? {
        let count = parents.count
        var walkOf = [Int](repeating: -1, count: count)  // which walk first visited the task
        var settled = [Bool](repeating: false, count: count)  // known to reach a root
        for start in 0..<count where !settled[start] {
            var task = start
            while task >= 0, !settled[task], walkOf[task] != start {
                walkOf[task] = start
                task = parents[task]
            }
            if task >= 0, !settled[task], walkOf[task] == start {
                return lowestOnCycle(through: task) { parents[$0] }
            }
            // The walk reached a root or a settled task: everything on it is settled.
            var settle = start
            while settle >= 0, !settled[settle] {
                settled[settle] = true
                settle = parents[settle]
            }
        }
        return nil
    }

    /// A task on a dependency cycle (the lowest index on the cycle found) and the position, in
    /// its submitted `dependencies`, of the dependency that continues the cycle; `nil` when the
    /// graph is acyclic.
    ///
    /// Kahn's algorithm removes every task whose dependencies are all removed; what remains
    /// contains a cycle, and from any remaining task a walk along remaining dependencies must
    /// come back to a task it already visited.
    static func findDependencyCycle(_ graph: DependencyGraph) -> (task: Int, position: Int)? {
        let count = graph.taskCount
        var pending = [Int](repeating: 0, count: count)  // unresolved in-array dependencies
        var dependentCounts = [Int](repeating: 0, count: count + 1)
        for task in 0..<count {
            pending[task] = graph.edges(of: task).count
            for edge in graph.edges(of: task) { dependentCounts[graph.targets[edge] + 1] += 1 }
        }
        guard pending.contains(where: { $0 > 0 }) else { return nil }

        // Reverse adjacency (dependency -> dependents), compressed-row form.
        for task in 0..<count { dependentCounts[task + 1] += dependentCounts[task] }
        var fill = dependentCounts
        var dependents = [Int](repeating: 0, count: graph.targets.count)
        for task in 0..<count {
            for edge in graph.edges(of: task) {
                let target = graph.targets[edge]
                dependents[fill[target]] = task
                fill[target] += 1
            }
        }

        var queue = (0..<count).filter { pending[$0] == 0 }
        queue.reserveCapacity(count)
        var head = 0
        while head < queue.count {
            let task = queue[head]
            head += 1
            for slot in dependentCounts[task]..<dependentCounts[task + 1] {
                let dependent = dependents[slot]
                pending[dependent] -= 1
                if pending[dependent] == 0 { queue.append(dependent) }
            }
        }
        guard queue.count < count, let start = pending.firstIndex(where: { $0 > 0 }) else { return nil }

        // Walk along remaining dependencies until a task repeats; that task is on a cycle.
        func nextEdge(_ task: Int) -> Int {
            graph.edges(of: task).first { pending[graph.targets[$0]] > 0 }!
        }
        var visited = Set<Int>()
        var task = start
        while visited.insert(task).inserted { task = graph.targets[nextEdge(task)] }
        let lowest = lowestOnCycle(through: task) { graph.targets[nextEdge($0)] }
        return (lowest, graph.positions[nextEdge(lowest)])
    }

    /// The lowest index on the cycle through `task`, following `next`.
    private static func lowestOnCycle(through task: Int, next: (Int) -> Int) -> Int {
        var lowest = task
        var current = next(task)
        while current != task {
            lowest = min(lowest, current)
            current = next(current)
        }
        return lowest
    }
}
