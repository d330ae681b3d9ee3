import BatonCore
import RedisClient

/// A task an agent took from a queue and started.
public struct StartedTask: Sendable, Hashable {
    public var treeID: String
    public var taskID: String
    /// The attempt number this claim holds; reports must carry it.
    public var attempt: Int
    public var executor: String
    public var name: String
    /// The inputs with dependency results merged in (SPEC "Result merge").
    public var inputs: JSONValue
    public var params: JSONValue
    public var schemas: JSONValue
    /// `timeout_s` of the task, if set.
    public var timeoutSeconds: Double?
    /// Why this attempt cannot run, when its stored record cannot be used as it is (merged inputs
    /// that do not parse within the JSON limits, a `timeout_s` out of range): the agent fails the
    /// attempt with this message instead of running the executor with a default.
    public var problem: String?

    /// The largest merged inputs an attempt runs with (64 MiB: a fan-in of 64 results at the
    /// default `agent.max_result_bytes`); beyond, the attempt fails saying so.
    public static let maxInputsBytes = 64 << 20
}

/// What a heartbeat learned about the attempts it kept alive.
public struct HeartbeatOutcome: Sendable, Hashable {
    /// Members whose lease was already gone: stop the attempt and report nothing.
    public var lost: [String] = []
    /// Members with a pending cancel request, and the attempt it is for.
    public var cancelRequests: [String: Int] = [:]

    /// Creates an outcome.
    public init(lost: [String] = [], cancelRequests: [String: Int] = [:]) {
        self.lost = lost
        self.cancelRequests = cancelRequests
    }
}

/// What an agent's own apply (``BatonStore/applyOwn(_:leaseMillis:claimable:)``) did.
public struct OwnApply: Sendable {
    /// The tasks claimed for the agent, by queue shard, best first: leased, not started yet.
    public var claimed: [ExecutorQueue: [(treeID: String, taskID: String)]] = [:]
    /// The first tree whose reports a script refused (the others were applied).
    public var refused: BatonError?
}

/// What an agent (or the lease reaper) says about an attempt.
public struct Report: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case completed, failed, progress, expired, handback
        /// The orphan sweep found the task `in_progress` at this attempt without a lease.
        case orphaned
        /// The attempt stopped after a cancel request (`extra`: a partial result JSON, or empty).
        case cancelled
    }

    public var kind: Kind
    public var treeID: String
    public var taskID: String
    public var attempt: Int
    /// completed: the result JSON; failed: the error message; progress: the value.
    public var data: String
    /// failed, cancelled: a partial result JSON, or empty.
    public var extra: String

    public init(kind: Kind, treeID: String, taskID: String, attempt: Int, data: String = "", extra: String = "") {
        self.kind = kind
        self.treeID = treeID
        self.taskID = taskID
        self.attempt = attempt
        self.data = data
        self.extra = extra
    }

    public static func completed(_ task: StartedTask, result: JSONValue) -> Report {
        Report(kind: .completed, treeID: task.treeID, taskID: task.taskID, attempt: task.attempt, data: result.jsonString())
    }

    public static func failed(_ task: StartedTask, error: String, partial: JSONValue? = nil) -> Report {
        Report(kind: .failed, treeID: task.treeID, taskID: task.taskID, attempt: task.attempt,
               data: error, extra: partial?.jsonString() ?? "")
    }

    /// The attempt stopped because its cancellation was requested; `partial` is what the executor
    /// produced before stopping, if anything (a late result is never sent as partial).
    public static func cancelled(_ task: StartedTask, partial: JSONValue? = nil) -> Report {
        Report(kind: .cancelled, treeID: task.treeID, taskID: task.taskID, attempt: task.attempt,
               extra: partial?.jsonString() ?? "")
    }

    /// The report as the scheduler may apply it. A report is a stream entry, so it is checked
    /// where it enters: a completed attempt whose result is not JSON a dependent could receive
    /// (it does not parse, or nests deeper than ``JSONValue/maxResultDepth``) becomes a failed
    /// attempt saying why — never an empty or default result; a partial result that cannot be
    /// used is dropped and the error says so; a progress report whose value is not a number in
    /// 0…1 is dropped (`nil`: progress is advisory, the attempt goes on).
    public var checked: Report? {
        func problem(_ text: String) -> String? {
            do {
                let depth = try JSONValue(parsing: text).nestingDepth
                return depth > JSONValue.maxResultDepth
                    ? "it nests \(depth) levels deep; at most \(JSONValue.maxResultDepth) are allowed" : nil
            } catch {
                return error.message
            }
        }
        var copy = self
        switch kind {
        case .completed:
            if let problem = problem(data) {
                copy = Report(kind: .failed, treeID: treeID, taskID: taskID, attempt: attempt,
                              data: "result rejected: \(problem)")
            }
        case .failed, .cancelled:
            if !extra.isEmpty, let problem = problem(extra) {
                copy.extra = ""
                if kind == .failed { copy.data += " (partial result rejected: \(problem))" }
            }
        case .progress:
            guard let value = Double(data), (0...1).contains(value) else { return nil }
        case .expired, .handback, .orphaned:
            break
        }
        return copy
    }

    public static func progress(_ task: StartedTask, _ value: Double) -> Report {
        Report(kind: .progress, treeID: task.treeID, taskID: task.taskID, attempt: task.attempt, data: String(value))
    }
}

extension BatonStore {
    // MARK: Agents

    /// Takes up to `count` of the best ready tasks of a queue shard, each with a lease.
    public func claim(_ queue: ExecutorQueue, count: Int, leaseMillis: Int) async throws -> [(treeID: String, taskID: String)] {
        try await claimWithDue(queue, count: count, leaseMillis: leaseMillis).claimed
    }

    /// ``claim(_:count:leaseMillis:)``, and when a rate limit holds work of the shard back, the
    /// time (epoch ms) its next task is due: no marker wakes the agents then, they look again
    /// by themselves.
    public func claimWithDue(
        _ queue: ExecutorQueue, count: Int, leaseMillis: Int
    ) async throws -> (claimed: [(treeID: String, taskID: String)], dueMillis: Int64?) {
        guard count > 0 else { return ([], nil) }
        let reply = try await run([ScriptCall.claimQueue(queue, keys: keys, now: clock(), leaseMillis: leaseMillis, count: count)],
                                  operation: "claim")[0]
        let entries = (reply.array ?? []).compactMap(\.string)
        let due = entries.last.flatMap { $0.hasPrefix("@") ? Int64($0.dropFirst()) : nil }
        return (entries.compactMap(Keys.parseMember).map { ($0.tree, $0.task) }, due)
    }

    /// Starts claimed tasks (one script call per tree, one round trip). Stale claims (a
    /// duplicate queue entry, a cancelled task) are dropped and their attempts ended (lease and
    /// concurrency slot freed, `enqueue.lua`).
    public func start(_ claimed: [(treeID: String, taskID: String)], from queue: ExecutorQueue) async throws -> [StartedTask] {
        if claimed.isEmpty { return [] }
        let now = clock()
        let byTree = Dictionary(grouping: claimed, by: \.treeID)
        let trees = Array(byTree.keys)
        let calls = trees.map { treeCall(.startTasks, $0, now: now, byTree[$0]!.map(\.taskID)) }
        let replies = try await run(calls, operation: "start")
        var started: [StartedTask] = []
        var stale: [String] = []
        var early = RedisCommand("ZADD", keys.delayed(queue))
        for (treeID, reply) in zip(trees, replies) {
            for entry in reply.array ?? [] {
                let fields = entry.array?.map { $0.string ?? "" } ?? []
                guard fields.count >= 2 else { continue }
                let member = Keys.member(tree: treeID, task: fields[0])
                if fields[1] == "early", fields.count >= 6, let due = Int64(fields[2]), let priority = Int(fields[3]) {
                    let ready = TreeOutputs.Ready(
                        treeID: treeID, taskID: fields[0], executor: queue.executor, priority: priority,
                        userID: fields[4], concurrencyKey: fields[5])
                    early.append(contentsOf: [String(due), Keys.delayedMember(ready)])
                    stale.append(member)
                    continue
                }
                guard fields[1] == "ok", fields.count >= 9 else {
                    stale.append(member)
                    continue
                }
                started.append(Self.startedTask(treeID: treeID, fields: fields))
            }
        }
        if !stale.isEmpty {
            // An early retry goes back to its backoff (ZADD, like the failure's dispatch) first.
            let parked = early.arguments.count > 2 ? [early] : []
            let end = ScriptCall.enqueue(queue, keys: keys, ending: stale, ready: [])
            let replies = try await evalPipeline([end], alsoSending: parked, operation: "start").scripts
            if let error = replies.first.flatMap({ Self.scriptError($0, operation: "start") }) { throw error }
        }
        // Back in claim order (best first): the script calls went out grouped by tree.
        let position = Dictionary(claimed.enumerated().map { (Keys.member(tree: $1.treeID, task: $1.taskID), $0) }) { first, _ in first }
        return started.sorted {
            position[Keys.member(tree: $0.treeID, task: $0.taskID), default: 0] < position[Keys.member(tree: $1.treeID, task: $1.taskID), default: 0]
        }
    }

    /// A started task from a `startTasks.lua` entry `{id, 'ok', attempt, executor, name, inputs,
    /// params, schemas, timeout_s}`. A field that cannot be read is never replaced by a default:
    /// it sets ``StartedTask/problem`` and the agent fails the attempt with it.
    static func startedTask(treeID: String, fields: [String]) -> StartedTask {
        var problems: [String] = []
        func object(_ text: String, _ name: String) -> JSONValue {
            do {
                let value = try JSONValue(parsing: text)
                if value.objectValue != nil { return value }
                problems.append("\(name) is not a JSON object")
            } catch {
                problems.append("\(name) cannot be read (\(error.message))")
            }
            return .emptyObject
        }
        let inputs: JSONValue
        if fields[5].utf8.count > StartedTask.maxInputsBytes {
            problems.append("merged inputs are \(fields[5].utf8.count) bytes; at most \(StartedTask.maxInputsBytes) are allowed")
            inputs = .emptyObject
        } else {
            inputs = object(fields[5], "merged inputs")
        }
        let params = object(fields[6], "params")
        let schemas = object(fields[7], "schemas")
        var timeout: Double?
        if !fields[8].isEmpty {
            if let seconds = Double(fields[8]), TaskRecord.timeoutRange.contains(seconds) {
                timeout = seconds
            } else {
                problems.append("timeout_s '\(fields[8])' is outside \(TaskRecord.timeoutRangeText)")
            }
        }
        let attempt = Int(fields[2]) ?? 0
        if attempt < 1 { problems.append("attempt '\(fields[2])' is not a positive integer") }
        return StartedTask(
            treeID: treeID, taskID: fields[0], attempt: max(attempt, 1), executor: fields[3], name: fields[4],
            inputs: inputs, params: params, schemas: schemas, timeoutSeconds: timeout,
            problem: problems.isEmpty ? nil : "task record cannot be run: " + problems.joined(separator: "; "))
    }

    /// Extends the leases of running tasks (members `<tree>\t<task>`). Answers the members whose
    /// lease was already gone (reaped: the task was handed to someone else and this attempt should
    /// stop) and the pending cancel requests of the queue's `cancels` hash: the heartbeat is the
    /// path that still cancels when the pub/sub signal was lost.
    public func heartbeat(_ queue: ExecutorQueue, members: [String], leaseMillis: Int) async throws -> HeartbeatOutcome {
        if members.isEmpty { return HeartbeatOutcome() }
        let expiry = String(clock() + Int64(leaseMillis))
        var zadd = RedisCommand("ZADD", keys.leases(queue), "XX", "CH")
        for member in members {
            zadd.append(expiry)
            zadd.append(member)
        }
        let replies = try await redis.pipeline([
            zadd,
            RedisCommand(["ZMSCORE", keys.leases(queue)] + members),
            RedisCommand(["HMGET", keys.cancels(queue)] + members),
        ])
        var outcome = HeartbeatOutcome()
        outcome.lost = zip(members, replies[1].array ?? []).filter { $0.1.isNull }.map(\.0)
        for (member, attempt) in zip(members, replies[2].array ?? []) {
            if let attempt = attempt.string.flatMap({ Int($0) }) { outcome.cancelRequests[member] = attempt }
        }
        return outcome
    }

    // MARK: Schedulers

    /// Applies reports (one script call per tree, one round trip), then dispatches the outputs.
    @discardableResult
    public func apply(_ reports: [Report]) async throws -> TreeOutputs {
        if reports.isEmpty { return TreeOutputs() }
        let (outputs, now, firstError) = try await applyScripts(reports)
        FaultPoint.reach("apply.after-script")
        try await dispatch(outputs, now: now)
        if let firstError { throw firstError }
        return outputs
    }

    /// An agent applies its own reports, so that a chain's next step needs three sequential round
    /// trips, not five (issue 13): the reports go to the bus (``Keys/applied(ofTree:)``) — the
    /// durable record the schedulers replay in batches, which changes nothing once applied but
    /// redoes a dispatch that died — and are
    /// applied in the same round trip (progress is applied only: it has nothing to dispatch); then the outputs are dispatched, and up to
    /// `claimable(released)` tasks of each queue shard where tasks were released are claimed in
    /// the same script call that queues them (strict priority holds: the claim takes the shard's
    /// best, not necessarily what was released).
    ///
    /// Should the agent die after applying and before dispatching, the schedulers' replay of the
    /// bus entry, or else the expiry of the ended attempt's lease (which only the dispatch drops),
    /// re-collects the outputs (`applyReports.lua`).
    ///
    /// A script that refuses one tree's reports (a key of the wrong type) refuses only those:
    /// the others are applied and dispatched, and the refusal is returned, not thrown — the
    /// reports are on the bus, so sending them again would only be refused again (the
    /// schedulers' replay refuses and acknowledges them likewise).
    ///
    /// - Parameter claimable: given the number of tasks released per queue shard, how many the
    ///   agent takes from each (its free slots, reserved for them).
    /// - Returns: the claimed tasks by queue shard, best first, each leased for `leaseMillis`,
    ///   and the first refusal.
    /// - Throws: when Redis could not be reached or took neither the bus entry nor the scripts
    ///   (nothing is lost: applying the batch again is a replay).
    public func applyOwn(
        _ reports: [Report], leaseMillis: Int, claimable: ([ExecutorQueue: Int]) async -> [ExecutorQueue: Int]
    ) async throws -> OwnApply {
        if reports.isEmpty { return OwnApply() }
        let (outputs, now, refused) = try await applyScripts(reports, publishing: true)
        if let refused, refused.code == .unavailable { throw refused }
        FaultPoint.reach("agent.after-apply")
        let released = Dictionary(grouping: outputs.ready) { keys.queue($0.executor, tree: $0.treeID, task: $0.taskID) }.mapValues(\.count)
        let claims = released.isEmpty ? [:] : await claimable(released)
        let claimed = try await dispatch(outputs, now: now, claiming: claims, leaseMillis: leaseMillis)
        return OwnApply(claimed: claimed, refused: refused)
    }

    /// The `applyReports.lua` calls of `reports`, one per tree in one round trip (with the
    /// reports' bus entries when `publishing`); their merged outputs and the first script error.
    private func applyScripts(_ reports: [Report], publishing: Bool = false) async throws -> (TreeOutputs, Int64, BatonError?) {
        let now = clock()
        let byTree = Dictionary(grouping: reports.compactMap(\.checked), by: \.treeID)
        let trees = Array(byTree.keys)
        let calls = trees.map { treeID in
            var arguments: [String] = []
            for report in byTree[treeID]! {
                arguments += [report.kind.rawValue, report.taskID, String(report.attempt), report.data, report.extra]
            }
            return treeCall(.applyReports, treeID, now: now, arguments)
        }
        // Progress has nothing to dispatch and is not idempotent (a replay would set an older
        // value again): an agent applying its own progress does not publish it.
        let durable = publishing ? reports.filter { $0.kind != .progress } : []
        let (replies, published) = try await evalPipeline(
            calls, alsoSending: durable.isEmpty ? [] : busEntries(durable, applied: true), operation: "apply")
        if let failed = published.first(where: { $0.errorMessage != nil }) { _ = try failed.throwingError() }
        var outputs = TreeOutputs()
        var firstError: BatonError?
        for (treeID, reply) in zip(trees, replies) {
            if let error = Self.scriptError(reply, operation: "apply") {
                firstError = firstError ?? error
                continue
            }
            outputs.merge(TreeOutputs(reply: reply, treeID: treeID))
        }
        return (outputs, now, firstError)
    }

    /// The executor types an agent served within ``servedWindowMillis`` (what the reaper sweeps).
    public func executorTypes() async throws -> [String] {
        let since = clock() - Self.servedWindowMillis
        let reply = try await redis.send("ZRANGEBYSCORE", keys.executorsServed, String(since), "+inf")
        return (reply.array ?? []).compactMap(\.string).sorted()
    }

    /// How long after an agent last served an executor type the reaper keeps sweeping it: longer
    /// than the longest lease (`agent.lease_s` ≤ 24 h) and the longest retry delay, so a lease
    /// whose agent died is always reaped and a due retry always promoted.
    public static let servedWindowMillis: Int64 = 25 * 3_600_000

    /// How long a served type that no agent serves any more is remembered before it is forgotten.
    public static let servedMemoryMillis: Int64 = 30 * 86_400_000

    /// Says that an agent serves these executor types now (agents call it when they start and
    /// then every few seconds); forgets types nobody served for ``servedMemoryMillis``.
    public func markServed(_ executors: [String]) async throws {
        if executors.isEmpty { return }
        let now = clock()
        var zadd = RedisCommand("ZADD", keys.executorsServed)
        for executor in executors.sorted() {
            zadd.append(String(now))
            zadd.append(executor)
        }
        _ = try await redis.pipeline([
            zadd, RedisCommand("ZREMRANGEBYSCORE", keys.executorsServed, "-inf", String(now - Self.servedMemoryMillis)),
        ])
    }

    /// Takes the leases of a queue shard that ran out (each held `holdMillis` longer, so no
    /// other reaper takes it too) and answers an `expired` report for each that names the attempt
    /// the lease belonged to — the task's attempt as it stands now. Applied, such a report counts
    /// only while the task is still at that attempt: a late one (its task was requeued and claimed
    /// again meanwhile) changes nothing. A lease whose task no longer exists (its tree was deleted
    /// while it ran) is ended here: no report could end it, and it would hold a concurrency slot.
    public func reapExpiredLeases(_ queue: ExecutorQueue, limit: Int = 500, holdMillis: Int) async throws -> [Report] {
        let reply = try await run([ScriptCall.reapLeases(queue, keys: keys, now: clock(), limit: limit, holdMillis: holdMillis)],
                                  operation: "reap")[0]
        let taken = (reply.array ?? []).compactMap { $0.string.flatMap(Keys.parseMember) }
        if taken.isEmpty { return [] }
        let fields = try await redis.pipeline(taken.map { RedisCommand("HMGET", keys.task($0.tree, $0.task), "attempt", "status") })
        var reports: [Report] = []
        var gone: [String] = []
        for (member, reply) in zip(taken, fields) {
            let values = reply.array ?? []
            guard values.count == 2, values[1].string != nil else {
                gone.append(Keys.member(tree: member.tree, task: member.task))
                continue
            }
            // A task never started has no `attempt` field: attempt 0.
            let attempt = values[0].string.flatMap { Int($0) } ?? 0
            reports.append(Report(kind: .expired, treeID: member.tree, taskID: member.task, attempt: attempt))
        }
        if !gone.isEmpty {
            _ = try await run([ScriptCall.enqueue(queue, keys: keys, ending: gone, ready: [])], operation: "reap")
        }
        return reports
    }

    /// Moves due retries of the given executor types (every queue shard) to their ready queues.
    @discardableResult
    public func promoteDelayed(executors: [String], limit: Int = 1000) async throws -> Int {
        if executors.isEmpty { return 0 }
        let now = clock()
        let calls = executors.flatMap(keys.queues(of:)).map { ScriptCall.promoteDelayed($0, keys: keys, now: now, limit: limit) }
        return try await run(calls, operation: "promote").reduce(0) { $0 + ($1.int ?? 0) }
    }
}
