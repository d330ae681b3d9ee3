import ArgumentParser
import BatonCore
import BatonStore
import Foundation

/// How `watch`, `submit --wait` and `submit --watch` end: 0 only when the tree completed.
enum TreeOutcome {
    static let failed: Int32 = 2
    static let cancelled: Int32 = 3
    static let timedOut: Int32 = 4

    /// The exit of a finished tree's status (`nil`: completed, exit 0).
    static func exitCode(forStatus status: String) -> ExitCode? {
        switch status {
        case "completed": nil
        case "cancelled": ExitCode(cancelled)
        default: ExitCode(failed)
        }
    }

    static let help = "Exits 0 when the tree completed, 2 when it failed, 3 when it was cancelled, 4 when --timeout passed first."

    /// `--timeout` as a duration: more than 0 and at most a day.
    static func timeout(_ seconds: Double?) throws -> Duration? {
        guard let seconds else { return nil }
        guard seconds.isFinite, seconds > 0, seconds <= 86_400 else {
            throw ValidationError("--timeout must be a number of seconds from 0 to 86400 (got \(seconds))")
        }
        return .milliseconds(Int64((seconds * 1000).rounded(.up)))
    }

    /// A progress value read from a record as a whole percentage (0…100, whatever the record holds).
    static func percent(_ fraction: Double) -> Int { fraction.isFinite ? Int(max(0, min(1, fraction)) * 100) : 0 }
}

/// Human words for a ``Waiting``.
enum WaitingText {
    static func describe(_ waiting: Waiting) -> String {
        switch waiting.reason {
        case .notStarted: "not started: the tree was stored without executing it (baton execute TREE_ID)"
        case .dependencies:
            "waiting for " + (waiting.unmet.isEmpty ? "dependencies" : waiting.unmet.map { "\($0.id) (\($0.status))" }.joined(separator: ", "))
        case .blocked: "blocked: its dependency \(waiting.blockedBy ?? "?") failed or was cancelled"
        case .queued:
            "queued for \(waiting.executor ?? "?")" + (waiting.position.map { ": position \($0), \(waiting.ahead ?? 0) ahead" } ?? "")
        case .noAgent: "no live agent serves executor type '\(waiting.executor ?? "?")'"
        case .retryBackoff: "waiting to retry at \(waiting.retryAt.map { Timestamp.rfc3339(millis: $0) } ?? "?")"
        case .throttled: "held back by a limit"
        }
    }
}

/// The live view of a tree: a header with the status, a progress bar and counts, then one line
/// per task (status, progress, name and id, why it waits). Redrawn in place on a terminal;
/// printed once per change otherwise.
struct TreeView {
    let store: BatonStore
    let userID: String?
    /// Tasks shown at most; the rest are summed up in one line.
    var maxTasks = 40

    /// Follows the tree until it finishes (or `timeout` passes); returns its final status, or
    /// `nil` on a timeout.
    func run(_ treeID: String, timeout: Duration?) async throws -> String? {
        let terminal = isatty(STDOUT_FILENO) == 1
        var drawn = 0
        var lastDraw = ContinuousClock.now - .seconds(1)
        var lastText = ""
        func draw(force: Bool) async throws -> String {
            let (snapshot, waiting) = try await store.treeWithWaiting(treeID, userID: userID)
            guard force || ContinuousClock.now - lastDraw >= .milliseconds(250) else { return snapshot.tree.status }
            lastDraw = .now
            let lines = render(snapshot, waiting)
            let text = lines.joined(separator: "\n")
            if text == lastText { return snapshot.tree.status }
            lastText = text
            if terminal && drawn > 0 { FileHandle.standardOutput.write(Data("\u{1B}[\(drawn)F\u{1B}[J".utf8)) }
            FileHandle.standardOutput.write(Data((text + "\n").utf8))
            drawn = lines.count
            return snapshot.tree.status
        }
        _ = try await draw(force: true)
        // Wait on the tree's event stream (up to half a second) and redraw what changed, at most
        // every 250 ms.
        let connection = store.redis.makeBlockingConnection(name: "baton-cli-watch")
        defer { connection.close() }
        var lastID = "0"
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while !Task.isCancelled {
            let entries = try await store.events(of: treeID, after: lastID, count: 1000, blockMillis: 500, on: connection)
            if let last = entries.last { lastID = last.id }
            let status = try await draw(force: false)
            if ["completed", "failed", "cancelled"].contains(status) {
                _ = try await draw(force: true)
                return status
            }
            if let deadline, ContinuousClock.now >= deadline { return nil }
        }
        return nil
    }

    func render(_ snapshot: TreeSnapshot, _ waiting: [String: Waiting]) -> [String] {
        let tree = snapshot.tree
        let counts = ["pending", "in_progress", "completed", "failed", "cancelled"]
            .compactMap { status in tree.counts[status].flatMap { $0 > 0 ? "\($0) \(status)" : nil } }
            .joined(separator: ", ")
        var lines = ["tree \(tree.id)  \(tree.status)  \(Self.bar(tree.progress, width: 30)) \(TreeOutcome.percent(tree.progress))%  \(counts)"]
        // Running and waiting tasks first, then the finished ones, each in submission order.
        let order: [TaskStatus] = [.inProgress, .pending, .failed, .cancelled, .completed]
        let tasks = snapshot.tasks.sorted { (order.firstIndex(of: $0.status) ?? 9) < (order.firstIndex(of: $1.status) ?? 9) }
        for task in tasks.prefix(maxTasks) {
            var line = "  \(task.status.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0)) \(Self.bar(task.progress, width: 10)) "
            line += task.name == task.id ? task.name : "\(task.name) (\(task.id))"
            if let reason = waiting[task.id] { line += "  — \(WaitingText.describe(reason))" }
            if let error = task.error, task.status != .completed { line += "  error: \(error.prefix(80))" }
            lines.append(line)
        }
        if tasks.count > maxTasks { lines.append("  … and \(tasks.count - maxTasks) more tasks") }
        return lines
    }

    static func bar(_ fraction: Double, width: Int) -> String {
        let filled = Int((Double(width) * (fraction.isFinite ? max(0, min(1, fraction)) : 0)).rounded())
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
    }
}

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a tree live: one line per task with status, progress and why it waits.",
        discussion: TreeOutcome.help)

    @OptionGroup var options: ClientOptions

    @Argument(help: "The tree id (the id of its root task).")
    var treeID: String

    @Option(help: "Stop waiting after this many seconds (exit 4).")
    var timeout: Double?

    func run() async throws {
        let limit = try TreeOutcome.timeout(timeout)
        let store = try await options.store()
        try await Self.watch(treeID, store: store, userID: options.userID, timeout: limit)
    }

    static func watch(_ treeID: String, store: BatonStore, userID: String, timeout: Duration?) async throws {
        guard let status = try await TreeView(store: store, userID: userID).run(treeID, timeout: timeout)
        else { throw ExitCode(TreeOutcome.timedOut) }
        if let exit = TreeOutcome.exitCode(forStatus: status) { throw exit }
    }
}

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List your trees, newest first.")

    @OptionGroup var options: ClientOptions

    @Option(help: "Only trees with this status (pending, in_progress, completed, failed, cancelled).")
    var status: String?

    @Option(help: "How many (1 to 1000).")
    var limit = 20

    func run() async throws {
        if let status, !["pending", "in_progress", "completed", "failed", "cancelled"].contains(status) {
            throw ValidationError("--status must be pending, in_progress, completed, failed or cancelled")
        }
        guard (1...1000).contains(limit) else { throw ValidationError("--limit must be between 1 and 1000") }
        let page = try await options.store().listTrees(userID: options.userID, status: status, limit: limit)
        if page.trees.isEmpty { print("no trees"); return }
        for tree in page.trees {
            let counts = tree.counts.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            print("\(tree.id.padding(toLength: 38, withPad: " ", startingAt: 0)) \(tree.status.padding(toLength: 11, withPad: " ", startingAt: 0)) "
                  + "\(TreeView.bar(tree.progress, width: 10)) \(tree.taskCount) tasks  \(tree.createdAt ?? "")  \(counts)")
        }
        if page.nextCursor != nil { print("(more: --limit \(min(1000, limit * 2)))") }
    }
}

struct Why: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Say why a task is not running (or how it ended).")

    @OptionGroup var options: ClientOptions

    @Argument(help: "The task id.")
    var taskID: String

    func run() async throws {
        let store = try await options.store()
        let (task, waiting) = try await store.taskWithWaiting(taskID, userID: options.userID)
        let label = task.name == task.id ? task.id : "\(task.name) (\(task.id))"
        switch task.status {
        case .pending:
            print("\(label) is pending: \(waiting.map(WaitingText.describe) ?? "about to be queued")")
        case .inProgress:
            print("\(label) is running (attempt \(task.attempt), progress \(TreeOutcome.percent(task.progress))%) since \(task.startedAt ?? "?")")
        case .completed:
            print("\(label) completed at \(task.completedAt ?? "?")")
        case .failed, .cancelled:
            print("\(label) \(task.status.rawValue) at \(task.completedAt ?? "?"): \(task.error ?? "no message")")
        }
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the live agents and the executor queues.")

    @OptionGroup var options: ClientOptions

    func run() async throws {
        let store = try await options.store()
        let executors = try await store.executorSummaries()
        let agents = try await store.agents()
        print("executor                      ready(p0/p1/p2/p3)      running  delayed  agents  free  done/failed last min  oldest ready")
        for summary in executors {
            let ready = summary.ready.map(String.init).joined(separator: "/")
            let oldest = summary.oldestReadyAgeMillis.map { String(format: "%.1f s", Double($0) / 1000) } ?? "-"
            print("\(summary.executor.padding(toLength: 29, withPad: " ", startingAt: 0)) \(ready.padding(toLength: 23, withPad: " ", startingAt: 0)) "
                  + "\(String(summary.running).padding(toLength: 8, withPad: " ", startingAt: 0)) \(String(summary.delayed).padding(toLength: 8, withPad: " ", startingAt: 0)) "
                  + "\(String(summary.agents).padding(toLength: 7, withPad: " ", startingAt: 0)) \(String(summary.freeSlots).padding(toLength: 5, withPad: " ", startingAt: 0)) "
                  + "\("\(summary.completedLastMinute)/\(summary.failedLastMinute)".padding(toLength: 22, withPad: " ", startingAt: 0)) \(oldest)")
        }
        if executors.isEmpty { print("(no executor type served lately)") }
        let limited = executors.filter {
            let admission = $0.admission
            return admission.maxRunning != nil || admission.maxRunningPerKey != nil || admission.held > 0 || admission.throttledClaims > 0
        }
        if !limited.isEmpty { print("\nlimits") }
        for summary in limited {
            let admission = summary.admission
            var parts: [String] = []
            if let max = admission.maxRunning { parts.append("running \(admission.running)/\(max)") }
            if let perKey = admission.maxRunningPerKey { parts.append("\(perKey) per key") }
            parts.append("\(admission.held) held")
            parts.append("\(admission.throttledClaims) throttled claims")
            print("  \(summary.executor): \(parts.joined(separator: ", "))")
        }
        print("\nagents")
        for agent in agents {
            print("  \(agent.id)  \(agent.host) pid \(agent.pid)  v\(agent.version)  \(agent.running)/\(agent.concurrency) running  "
                  + "executors: \(agent.executors.joined(separator: ", "))  last seen \(Timestamp.rfc3339(millis: agent.lastSeen))")
        }
        if agents.isEmpty { print("  (no live agent)") }
    }
}

struct Execute: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start a tree that was stored without executing it.")

    @OptionGroup var options: ClientOptions

    @Argument(help: "The tree id.")
    var treeID: String

    func run() async throws {
        let store = try await options.store()
        try await store.startTree(treeID, userID: options.userID)
        print(treeID)
    }
}
