import BatonCore
import BatonStore
import RedisClient

/// Follows a tree's event stream until `tree_finished`.
struct TreeWatcher {
    let store: BatonStore

    /// Calls `onEvent` for every event of the tree from the beginning; returns after `tree_finished`.
    func follow(_ treeID: String, onEvent: ([String: String]) -> Void) async throws {
        let connection = store.redis.makeBlockingConnection(name: "baton-cli-watch")
        defer { connection.close() }
        var lastID = "0"
        while true {
            let entries = try await store.events(of: treeID, after: lastID, count: 500, blockMillis: 1000, on: connection)
            if entries.isEmpty {
                // Nothing new: the tree may have finished before its stream was trimmed past the event.
                if try await store.treeRecord(treeID, userID: nil).isFinished { return }
                continue
            }
            for entry in entries {
                lastID = entry.id
                onEvent(entry.fields)
                if entry.fields["type"] == "tree_finished" { return }
            }
        }
    }

    /// One line for a human.
    static func describe(_ event: [String: String], names: [String: String] = [:]) -> String {
        let type = event["type"] ?? "?"
        let id = event["task_id"] ?? ""
        let task = type == "tree_finished" ? "tree \(id)" : (names[id] ?? id)
        var line = "\(type.padding(toLength: 15, withPad: " ", startingAt: 0)) \(task.padding(toLength: max(16, task.count), withPad: " ", startingAt: 0))"
        if let status = event["status"] { line += "  [\(status)]" }
        if let error = event["error"] { line += "  error: \(error)" }
        if let progress = event["progress"], type != "task_completed" { line += "  progress: \(progress)" }
        if let result = event["result"] { line += "  result: \(result.count > 90 ? String(result.prefix(87)) + "..." : result)" }
        return line
    }
}
