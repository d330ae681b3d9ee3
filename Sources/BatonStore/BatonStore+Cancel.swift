import BatonCore
import RedisClient

/// The answer to a cancellation, for one task (SPEC "Cancellation").
public struct CancelOutcome: Sendable, Hashable {
    /// The task.
    public var taskID: String
    /// `cancelled` (it is cancelled now) or `cancelling` (its executor has not stopped yet).
    public var status: String
    /// Whether the task is known to have stopped.
    public var stopConfirmed: Bool
    /// A human-readable note: the cancellation message, or why the stop is not confirmed.
    public var message: String?

    /// Creates an outcome.
    public init(taskID: String, status: String, stopConfirmed: Bool, message: String? = nil) {
        self.taskID = taskID
        self.status = status
        self.stopConfirmed = stopConfirmed
        self.message = message
    }

    /// `{"task_id", "status", "stop_confirmed", "message"?}`.
    public var jsonValue: JSONValue {
        var members: [String: JSONValue] = [
            "task_id": .string(taskID), "status": .string(status), "stop_confirmed": .bool(stopConfirmed),
        ]
        if let message { members["message"] = .string(message) }
        return .object(members)
    }
}

extension BatonStore {
    /// The error message of a cancelled task when the caller gave none.
    public static let defaultCancelMessage = "Cancellation requested"

    /// How long a cancel waits for a signalled agent to confirm that the task stopped.
    static let cancelConfirmWindow: Duration = .milliseconds(1_500)

    /// Cancels a task.
    ///
    /// A pending task is `cancelled` at once (error = `message`, default `Cancellation requested`);
    /// its required dependents are blocked, its optional ones may run. A running task gets
    /// `cancel_requested_at`; the agent holding its lease is signalled (pub/sub, and the queue's
    /// `cancels` hash its heartbeat reads, so a lost message still cancels) and the task becomes
    /// `cancelled` when its executor stops — or, if the executor ignores the signal, when it returns
    /// (its late result is discarded). The answer says `cancelled` with `stop_confirmed` when the
    /// task stopped within 1.5 s (only when an agent received the signal), else `cancelling`.
    ///
    /// - Parameter userID: the caller (`nil`: admin).
    /// - Throws: ``BatonError`` — `not_found` (missing, or another user's task), `immutable`
    ///   (archived tree), `already_terminal` with ``BatonError/currentStatus`` (`Task X is already <status>`).
    public func cancel(taskID: String, userID: String?, message: String? = nil) async throws -> CancelOutcome {
        try await cancel(taskID: taskID, userID: userID, message: message, publish: true)
    }

    /// Cancels every pending and in_progress task of a tree (see ``cancel(taskID:userID:message:)``);
    /// answers one outcome per task it touched (none when the tree had finished).
    ///
    /// A tree of more than ``cancelSliceTasks`` tasks is cancelled slice by slice, its last tasks
    /// first, one short script each (no call holds Redis long); a task that becomes ready and
    /// starts between two slices is stopped like any running task.
    /// - Throws: ``BatonError`` — `not_found` (missing or another user's tree), `immutable` (archived).
    public func cancelTree(_ treeID: String, userID: String?, message: String? = nil) async throws -> [CancelOutcome] {
        try await runCancel(treeID: treeID, taskID: nil, userID: userID, message: message, publish: true)
    }

    /// ``cancel(taskID:userID:message:)``; `publish: false` keeps the request for heartbeats but
    /// sends no pub/sub message (tests use it to play a lost message).
    func cancel(taskID: String, userID: String?, message: String?, publish: Bool) async throws -> CancelOutcome {
        guard let treeID = try await treeID(ofTask: taskID) else { throw BatonError.taskNotFound(taskID).during("cancel") }
        let outcomes = try await runCancel(treeID: treeID, taskID: taskID, userID: userID, message: message, publish: publish)
        guard let outcome = outcomes.first else { throw BatonError.internal("cancel of \(taskID) answered nothing") }
        return outcome
    }

    private func runCancel(
        treeID: String, taskID: String?, userID: String?, message: String?, publish: Bool
    ) async throws -> [CancelOutcome] {
        let text = message.flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultCancelMessage
        let arguments = [userID == nil ? "0" : "1", userID ?? "", text, taskID == nil ? "tree" : "task", taskID ?? ""]
        // A tree is cancelled in slices of ranks, last tasks first (dependents mostly follow their
        // dependencies, so few are released by a cancellation only to be cancelled by the next
        // slice): the first call takes the last slice and tells how many tasks there are.
        var fields: [String] = []
        var ranks = (first: -Self.cancelSliceTasks, last: -1)
        while true {
            let now = clock()
            let call = treeCall(.cancelTasks, treeID, now: now, arguments + [String(ranks.first), String(ranks.last)])
            let reply = try await run([call], operation: "cancel")[0]
            guard let parts = reply.array, parts.count == 3, let total = parts[2].int else {
                throw BatonError.internal("cancel: unexpected reply \(reply)")
            }
            try await dispatch(TreeOutputs(reply: parts[0], treeID: treeID), now: now)
            fields += parts[1].array?.map { $0.string ?? "" } ?? []
            if taskID != nil { break }
            // Ranks from the start from now on: a task added meanwhile (at the end) moves none.
            let done = ranks.first < 0 ? total + ranks.first : ranks.first
            if done <= 0 { break }
            ranks = (max(0, done - Self.cancelSliceTasks), done - 1)
        }

        var outcomes: [CancelOutcome] = []
        var stopping: [ExecutorQueue: [(member: String, attempt: String)]] = [:]
        for i in stride(from: 0, to: fields.count - 3, by: 4) {
            let (id, outcome, executor, attempt) = (fields[i], fields[i + 1], fields[i + 2], fields[i + 3])
            if outcome == "cancelled" {
                outcomes.append(CancelOutcome(taskID: id, status: "cancelled", stopConfirmed: true, message: text))
            } else {
                outcomes.append(CancelOutcome(
                    taskID: id, status: "cancelling", stopConfirmed: false,
                    message: "Cancellation requested; the task stops when its executor does"))
                stopping[keys.queue(executor, tree: treeID, task: id), default: []].append((Keys.member(tree: treeID, task: id), attempt))
            }
        }
        if stopping.isEmpty { return outcomes }

        let calls = stopping.map { queue, attempts in
            ScriptCall.requestCancel(queue, keys: keys, publish: publish, attempts: attempts)
        }
        // Attempts that still hold a lease have an agent to stop them: wait a little for it.
        let leased = try await run(calls, operation: "cancel").reduce(0) { $0 + ($1.int ?? 0) }
        if leased > 0 {
            try await awaitStops(treeID: treeID, outcomes: &outcomes, message: text)
        }
        return outcomes
    }

    /// Tasks per `cancelTasks.lua` call of a tree's cancellation.
    static let cancelSliceTasks = 250

    /// Polls the tasks still `cancelling` until they are cancelled or the confirm window passes.
    private func awaitStops(treeID: String, outcomes: inout [CancelOutcome], message: String) async throws {
        let deadline = ContinuousClock.now + Self.cancelConfirmWindow
        while true {
            let waiting = outcomes.indices.filter { outcomes[$0].status == "cancelling" }
            if waiting.isEmpty { return }
            let statuses = try await redis.pipeline(waiting.map {
                RedisCommand("HGET", keys.task(treeID, outcomes[$0].taskID), "status")
            })
            for (index, status) in zip(waiting, statuses) where status.string == TaskStatus.cancelled.rawValue {
                outcomes[index] = CancelOutcome(taskID: outcomes[index].taskID, status: "cancelled", stopConfirmed: true, message: message)
            }
            if ContinuousClock.now >= deadline { return }
            try await Task.sleep(for: .milliseconds(25))
        }
    }
}
