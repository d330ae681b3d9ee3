import BatonCore
import BatonStore
import Foundation
import Testing

/// Environment for tests that assert `attempt == 1`: a lease long enough that a CPU-starved
/// agent on a shared machine never loses it by accident.
let steadyLeases = ["BATON_AGENT_LEASE_S": "10", "BATON_AGENT_HEARTBEAT_INTERVAL_S": "0.5"]

/// One stream event (`type`, `tree_id`, `task_id`, `status`, `timestamp`, …).
typealias Event = [String: String]

extension TreeSnapshot {
    /// The task with this id (a test failure when the tree has none).
    func requireTask(_ id: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> TaskRecord {
        try #require(tasks.first { $0.id == id }, "tree \(tree.id) has no task \(id)", sourceLocation: sourceLocation)
    }

    /// One line per task, for failure messages.
    var summary: String {
        "tree \(tree.id) \(tree.status) \(tree.counts)\n" + tasks.map {
            "  \($0.id) \($0.status.rawValue) attempt \($0.attempt) started \($0.startedAt ?? "-") "
                + "completed \($0.completedAt ?? "-")" + ($0.blockedBy.map { " blocked_by \($0)" } ?? "")
                + ($0.error.map { " error \($0)" } ?? "")
        }.joined(separator: "\n")
    }
}

extension TaskRecord {
    /// `started_at` in epoch milliseconds.
    func startedMillis(sourceLocation: SourceLocation = #_sourceLocation) throws -> Int64 {
        try millis(startedAt, "\(id).started_at", sourceLocation: sourceLocation)
    }

    /// `completed_at` in epoch milliseconds.
    func completedMillis(sourceLocation: SourceLocation = #_sourceLocation) throws -> Int64 {
        try millis(completedAt, "\(id).completed_at", sourceLocation: sourceLocation)
    }
}

/// Epoch milliseconds of an RFC 3339 timestamp (a test failure when absent or malformed).
func millis(_ text: String?, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Int64 {
    try #require(text.flatMap { Timestamp.millis(rfc3339: $0) }, "\(what) is not a timestamp: \(text ?? "nil")",
                 sourceLocation: sourceLocation)
}

/// Epoch milliseconds now, on the clock the processes use.
func nowMillis() -> Int64 { Timestamp.millis(Date()) }

/// Parses JSON text into a value (for expected results).
func json(_ text: String) throws -> JSONValue { try JSONValue(parsing: text) }

extension Array where Element == Event {
    /// The events of a type, optionally of one task, in stream order.
    func of(_ type: String, task: String? = nil) -> [Event] {
        filter { $0["type"] == type && (task == nil || $0["task_id"] == task) }
    }

    /// The stream position of the first event of a type for a task.
    func position(_ type: String, task: String) -> Int? {
        firstIndex { $0["type"] == type && $0["task_id"] == task }
    }

    /// The task ids of the `task_started` events, in stream order.
    var startOrder: [String] { of("task_started").compactMap { $0["task_id"] } }

    /// One line per event, for failure messages.
    var summary: String {
        map { event in
            let main = ["type", "task_id", "status", "timestamp"].map { event[$0] ?? "-" }.joined(separator: " ")
            let rest = event.filter { !["type", "task_id", "status", "timestamp", "tree_id"].contains($0.key) }
                .sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            return "  \(main) \(rest)"
        }.joined(separator: "\n")
    }
}

/// The event's `timestamp` (epoch milliseconds).
func timestamp(_ event: Event?, sourceLocation: SourceLocation = #_sourceLocation) throws -> Int64 {
    let event = try #require(event, "missing event", sourceLocation: sourceLocation)
    return try #require(event["timestamp"].flatMap { Int64($0) }, "event without timestamp: \(event)",
                        sourceLocation: sourceLocation)
}

/// Checks what every finished tree's stream must show: one `task_created` per task, one
/// `task_started` per attempt, one terminal event per finished task, no event for a task that
/// is not in the tree, and exactly one `tree_finished`, last, carrying the tree's status.
func expectConsistentEvents(
    _ events: [Event], _ snapshot: TreeSnapshot, sourceLocation: SourceLocation = #_sourceLocation
) {
    let context = "\(snapshot.summary)\nevents:\n\(events.summary)"
    let ids = Set(snapshot.tasks.map(\.id))
    for event in events where event["type"] != "tree_finished" {
        #expect(ids.contains(event["task_id"] ?? ""), "event for an unknown task: \(event)\n\(context)",
                sourceLocation: sourceLocation)
    }
    for task in snapshot.tasks {
        #expect(events.of("task_created", task: task.id).count == 1,
                "\(task.id): one task_created\n\(context)", sourceLocation: sourceLocation)
        #expect(events.of("task_started", task: task.id).count == task.attempt,
                "\(task.id): one task_started per attempt (\(task.attempt))\n\(context)", sourceLocation: sourceLocation)
        let completions = events.of("task_completed", task: task.id).count
        let finalFailures = events.of("task_failed", task: task.id).filter { $0["status"] == "failed" }.count
        switch task.status {
        case .completed:
            #expect(completions == 1 && finalFailures == 0,
                    "\(task.id): exactly one task_completed\n\(context)", sourceLocation: sourceLocation)
        case .failed:
            #expect(completions == 0 && finalFailures == 1,
                    "\(task.id): exactly one final task_failed\n\(context)", sourceLocation: sourceLocation)
        default:
            #expect(completions == 0 && finalFailures == 0,
                    "\(task.id): no terminal event while \(task.status)\n\(context)", sourceLocation: sourceLocation)
        }
    }
    let finished = events.of("tree_finished")
    #expect(finished.count == 1, "exactly one tree_finished\n\(context)", sourceLocation: sourceLocation)
    #expect(events.last?["type"] == "tree_finished", "tree_finished is the last event\n\(context)",
            sourceLocation: sourceLocation)
    #expect(finished.first?["status"] == snapshot.tree.status, "tree_finished carries the tree status\n\(context)",
            sourceLocation: sourceLocation)
    #expect(finished.first?["task_id"] == snapshot.tree.id, "tree_finished names the tree\n\(context)",
            sourceLocation: sourceLocation)
}

/// Checks that `later` started only after `earlier` finished, from the records' timestamps and
/// from the event stream (both tasks of the same tree).
func expectRanAfter(
    _ later: String, _ earlier: String, in snapshot: TreeSnapshot, events: [Event],
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let first = try snapshot.requireTask(earlier, sourceLocation: sourceLocation)
    let second = try snapshot.requireTask(later, sourceLocation: sourceLocation)
    let finishedAt = try first.completedMillis(sourceLocation: sourceLocation)
    let startedAt = try second.startedMillis(sourceLocation: sourceLocation)
    #expect(startedAt >= finishedAt, "\(later) started at \(startedAt) before \(earlier) finished at \(finishedAt)\n\(snapshot.summary)",
            sourceLocation: sourceLocation)
    let terminal = events.firstIndex { $0["task_id"] == earlier && ($0["type"] == "task_completed"
        || ($0["type"] == "task_failed" && $0["status"] == "failed") || $0["type"] == "task_cancelled") }
    let start = events.position("task_started", task: later)
    let order = "events:\n\(events.summary)"
    let finishedIndex = try #require(terminal, "no terminal event of \(earlier)\n\(order)", sourceLocation: sourceLocation)
    let startIndex = try #require(start, "no task_started of \(later)\n\(order)", sourceLocation: sourceLocation)
    #expect(finishedIndex < startIndex, "task_started of \(later) precedes the end of \(earlier)\n\(order)",
            sourceLocation: sourceLocation)
}
