/// The fields a submitted object may have, and the refusal of any other one with the nearest
/// known name suggested (`unknown field 'dependecies' (did you mean 'dependencies'?)`): a typo
/// must not silently drop what the caller meant (a dependency, a timeout).
enum KnownFields {
    /// Fields Baton reads from a task object.
    static let task: Set<String> = [
        "id", "name", "executor", "parent_id", "priority", "dependencies", "inputs", "params", "schemas",
        "timeout_s", "max_attempts", "backoff", "concurrency_key", "user_id",
    ]

    /// Fields of apflow's task model that Baton accepts and ignores, so that a tree exported from
    /// apflow (or written against its documentation) is accepted as it is. State and bookkeeping
    /// only: Baton sets these itself.
    static let apflowIgnored: Set<String> = [
        "task_tree_id", "execution_identity", "status", "result", "error", "error_info", "progress", "created_at",
        "updated_at", "started_at", "completed_at", "cancel_requested_at", "has_children", "original_task_id",
        "origin_type", "has_references", "run_id", "source_task_id", "result_snapshot_hash", "attempt_id",
        "attempt_count", "lease_id", "lease_expires_at", "last_assigned_node", "checkpoint_at", "resume_from",
        "token_usage", "estimated_cost_usd", "actual_cost_usd",
    ]

    /// Fields of a dependency object.
    static let dependency: Set<String> = ["id", "name", "required"]

    /// Fields of a backoff object.
    static let backoff: Set<String> = ["strategy", "base_s"]

    /// Refuses the first key of `members` (in sorted order) that is not in `known`.
    /// - Throws: `invalid_argument` naming the field path, with the nearest known name when one is close.
    static func check(_ members: [String: JSONValue], known: Set<String>, ignored: Set<String> = [], path: String) throws(BatonError) {
        for key in members.keys.sorted() where !known.contains(key) && !ignored.contains(key) {
            let field = path.isEmpty ? key : "\(path).\(key)"
            var message = "\(path.isEmpty ? "" : "\(path): ")unknown field '\(key)'"
            if let nearest = nearest(to: key, in: known) { message += " (did you mean '\(nearest)'?)" }
            throw BatonError.invalidArgument(message, field: field)
        }
    }

    /// The known name closest to `word` by edit distance, when it is close enough to be a typo:
    /// at most 2 edits, and at most a third of the word's length.
    static func nearest(to word: String, in known: Set<String>) -> String? {
        let limit = min(2, max(1, word.count / 3))
        var best: (name: String, distance: Int)?
        for name in known.sorted() {
            let distance = editDistance(word.lowercased(), name)
            if distance <= limit, distance < (best?.distance ?? .max) { best = (name, distance) }
        }
        return best?.name
    }

    /// Levenshtein distance with adjacent transpositions (optimal string alignment).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars), b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous2 = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], previous2[j - 2] + 1)
                }
            }
            (previous2, previous, current) = (previous, current, previous2)
        }
        return previous[b.count]
    }
}
