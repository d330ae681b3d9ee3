import BatonCore
import Foundation
import RedisClient

/// The answer to a submission.
public struct SubmitResult: Sendable, Hashable {
    /// The new tree's id (its first root's id).
    public var treeID: String
    /// Every task id, in submission order.
    public var taskIDs: [String]
}

extension BatonStore {
    /// Validates and stores a whole array of tasks as one new tree: every task or none.
    ///
    /// - Parameters:
    ///   - userID: the owner (from the caller's identity, never from the body).
    ///   - execute: start running at once (`false` stores the tree for a later ``startTree(_:userID:)``).
    ///   - token: names this submission. A submission replayed with the same token (a
    ///     Redis-native entry read again after a crash) completes what the first attempt began
    ///     instead of being refused as "id taken"; give it with ``TaskID/deterministic(seed:position:)``
    ///     ids so that the replay names the same tasks. Default: a fresh random token.
    /// - Throws: ``BatonError`` — `validation_failed` naming the field, `already_exists` for a taken id.
    public func submit(
        _ items: [TaskSubmission],
        userID: String?,
        execute: Bool = true,
        validator: TreeValidator = TreeValidator(),
        token: String = TaskID.generate(),
        retentionSeconds: Int? = nil,
        runAtMillis: Int64? = nil
    ) async throws -> SubmitResult {
        let now = clock()
        try checkTreeSize(items.count)  // before validating: a huge array is refused at once
        if let runAtMillis, runAtMillis > now + Self.maxRunAtAheadMillis {
            throw BatonError.invalidArgument("run_at may be at most 366 days ahead", field: "run_at")
        }
        var position = 0
        var tree = try validator.validate(items, now: Timestamp.date(millis: now)) {
            position += 1
            return TaskID.deterministic(seed: token, position: position)
        }
        for index in tree.tasks.indices { tree.tasks[index].userID = userID }
        // A time to come: the timer first (a timer whose tree was never stored is dropped when
        // it fires), then the tree, stored without running. A time gone: it runs at once.
        let later = runAtMillis.flatMap { $0 > now ? $0 : nil }
        if let later, execute {
            _ = try await redis.send("ZADD", keys.timers, String(later), Self.startTimer(tree.treeID))
        }
        let result = try await store(
            tree, userID: userID, execute: execute && later == nil, now: now, origin: OriginType.create.rawValue, token: token,
            retentionMillis: retentionSeconds.map { Int64($0) * 1000 } ?? retentionMillis)
        if let later, execute {
            _ = try await redis.send("HSET", keys.tree(result.treeID), "run_at", String(later))
        }
        return result
    }

    /// How far ahead `run_at` may be.
    public static let maxRunAtAheadMillis: Int64 = 366 * 86_400_000

    /// When the earliest timer is due (epoch ms), `nil` when there is none.
    public func nextTimerDue() async throws -> Int64? {
        let first = (try await redis.send("ZRANGE", keys.timers, "0", "0", "WITHSCORES").array ?? []).compactMap(\.string)
        // A score that is no epoch-ms integer (planted by hand: -inf, 1e300) counts as due: the
        // firing that follows drops what it finds due and leaves the rest.
        guard first.count == 2 else { return nil }
        return Double(first[1]).flatMap { Int64(exactly: $0) } ?? .min
    }

    /// The timer member that starts a tree.
    static func startTimer(_ treeID: String) -> String { "start\t\(treeID)" }

    /// Starts the trees whose `run_at` has come and fires the schedules due (at most `limit`
    /// timers); returns how many timers it handled (`limit`: there may be more).
    /// Any number of schedulers may call it at once: starting a tree twice queues nothing twice
    /// (``startTree(_:userID:)`` is idempotent). A tree deleted, cancelled or archived meanwhile
    /// is dropped from the timers.
    @discardableResult
    public func fireDueTimers(limit: Int = 100) async throws -> Int {
        let now = clock()
        let due = (try await redis.send("ZRANGEBYSCORE", keys.timers, "-inf", String(now), "LIMIT", "0", String(limit)).array ?? [])
            .compactMap(\.string)
        for member in due {
            let parts = member.split(separator: "\t", maxSplits: 1).map(String.init)
            if parts.count == 2, parts[0] == "schedule" {
                do {
                    try await fireSchedule(parts[1], now: now)  // moves its own timer on
                } catch let error as BatonError where error.code != .unavailable {
                    // This schedule cannot fire now (its template refused, a key planted by
                    // hand): the others go on, and it is tried again in a minute.
                    _ = try await redis.send("ZADD", keys.timers, String(now + 60_000), member)
                }
                continue
            }
            if parts.count == 2, parts[0] == "start", Identifier.isValid(parts[1]) {
                do {
                    let record = try await treeRecord(parts[1], userID: nil)
                    if !record.isFinished && !record.archived {
                        try await runStartTree(parts[1], taskCount: record.taskCount, operation: "run_at")
                    }
                } catch let error as BatonError where error.code == .notFound {
                    // deleted before its time
                } catch let error as BatonError where error.code != .unavailable {
                    // Refused (a key planted by hand): the timers behind it go on, and it is
                    // tried again in a minute, as a schedule's is.
                    _ = try await redis.send("ZADD", keys.timers, String(now + 60_000), member)
                    continue
                }
            }
            // (a member of another form is not Baton's: dropped)
            _ = try await redis.send("ZREM", keys.timers, member)
        }
        return due.count
    }

    /// Stores a validated tree (see ``submit(_:userID:execute:validator:token:)``).
    public func store(
        _ tree: ValidatedTree, userID: String?, execute: Bool, now: Int64, token: String = TaskID.generate()
    ) async throws -> SubmitResult {
        try await store(tree, userID: userID, execute: execute, now: now, origin: OriginType.create.rawValue, token: token)
    }

    /// A node of a link or mixed tree, stored `completed` without data of its own (see `BatonStore+Links`).
    struct StoredLink: Sendable {
        /// The tree of the original task (`original_task_id`).
        var originalTree: String
        /// The original's result JSON, injected into dependents (`link_result`).
        var result: String
    }

    /// Stores a new tree: submissions, and copies, links and mixed trees (`origin` is the tree's
    /// `origin_type`; `links` are the tasks to store as completed link nodes, by id). Tasks whose
    /// dependencies are all links are ready at once, their inputs merged here with the links'
    /// results (SPEC "Result merge").
    ///
    /// Every step after the tree script is recoverable: the tree is marked in flight
    /// (``Keys/inflightSubmissions``) before its ids are reserved and unmarked once its ready tasks
    /// are queued, so a crash in between leaves a mark from which the scheduler's sweep
    /// (``repairInflightSubmissions(olderThanMillis:limit:)``) queues them; a replay with the same
    /// `token` finds its own reservation and its own stored tree and finishes the same steps.
    func store(
        _ tree: ValidatedTree, userID: String?, execute: Bool, now: Int64, origin: String,
        links: [String: StoredLink] = [:], token: String = TaskID.generate(), retentionMillis: Int64?? = nil
    ) async throws -> SubmitResult {
        try checkTreeSize(tree.tasks.count)
        let retention = retentionMillis ?? self.retentionMillis
        let externalTrees = try await locateExternalDependencies(of: tree, userID: userID)
        let ids = tree.tasks.map(\.id)
        // One mark per submission attempt (`<tree>\t<token>`): a refused retry of the same tree
        // removes its own mark, never the one an earlier attempt with an unknown outcome left.
        // The mark is written before any id is reserved, so no reservation ever exists without
        // the mark from which the sweep gives it back (found by scripts/chaos cluster-failover:
        // a failed mark beside a successful reservation held the ids forever).
        let mark = "\(tree.treeID)\t\(token)"
        try await redis.send("ZADD", keys.inflightSubmissions, String(now), mark)
        do {
            try await reserve(ids, for: tree.treeID, token: token, tasks: tree.tasks)
            FaultPoint.reach("submit.after-reserve")
        } catch {
            await abandon(ids, for: tree.treeID, token: token, mark: mark)
            throw error
        }

        var dependents: [String: [String]] = [:]
        let inTree = Set(ids)
        for task in tree.tasks {
            for dependency in task.dependencies where inTree.contains(dependency.id) {
                dependents[dependency.id, default: []].append((dependency.required ? "R" : "O") + task.id)
            }
        }
        var taskArguments: [[String]] = []
        taskArguments.reserveCapacity(tree.tasks.count)
        var outputs = TreeOutputs()
        for var task in tree.tasks {
            let link = links[task.id]
            let waiting = link != nil ? 0 : task.dependencies.count(where: { links[$0.id] == nil })
            let ready = execute && link == nil && waiting == 0
            if ready && !task.dependencies.isEmpty {
                task.inputs = Self.merged(task.inputs, task.dependencies.map { ($0.id, links[$0.id]?.result ?? "null") })
            }
            var fields = TaskHash.fields(
                of: task, createdAt: now, waiting: waiting,
                dependents: dependents[task.id] ?? [], queued: ready)
            if let link {
                fields += ["progress", "1", "completed_at", String(now), "link_tree", link.originalTree, "link_result", link.result]
            }
            taskArguments.append([task.id, String(fields.count / 2)] + fields)
            if ready {
                outputs.ready.append(.init(
                    treeID: tree.treeID, taskID: task.id, executor: task.executor, priority: task.priority,
                    userID: userID ?? "", concurrencyKey: task.concurrencyKey ?? ""))
            }
        }
        let submission = TreeWrite(
            treeID: tree.treeID, head: [userID ?? "", execute ? "1" : "0", tree.treeID, origin],
            token: token, retention: retention.map { String($0) } ?? "", mark: mark)
        let replayed: Bool
        do {
            replayed = try await write(submission, taskArguments, now: now)
        } catch let error as BatonError where error.code != .unavailable {
            // Refused by the script: nothing was written (what was staged is removed again).
            // Give the ids back, drop the mark.
            await abandon(ids, for: tree.treeID, token: token, mark: mark)
            throw error
        }
        // Any other failure (the connection dropped, Redis died) leaves the outcome unknown: the
        // tree may be stored. The reservation and the mark stay, so a replay with the same token
        // completes it, and otherwise the sweep queues a stored tree's ready tasks.
        FaultPoint.reach("submit.after-store")
        if replayed {
            // Stored by an earlier attempt of this submission, which may have died before queueing:
            // queue again whatever is ready now (a started tree only; duplicates collapse).
            outputs = TreeOutputs()
            if execute {
                try await runStartTree(tree.treeID, taskCount: tree.tasks.count, operation: "submit", keepingFresh: mark)
            }
        }

        var indexes = [
            RedisCommand("ZADD", keys.userTrees(userID ?? ""), String(now), tree.treeID),
            RedisCommand("ZADD", keys.allTrees, String(now), tree.treeID),
        ]
        if let retention, !links.isEmpty, links.count == tree.tasks.count {
            // A tree of links only is finished the moment it is stored.
            indexes.append(RedisCommand("ZADD", keys.expiringTrees, String(now + retention), tree.treeID))
        }
        // The reservation's tokens have served: the stored tree now answers for its ids.
        for (bucket, members) in Dictionary(grouping: ids, by: Keys.bucket(of:)) {
            for start in stride(from: 0, to: members.count, by: 2_000) {
                indexes.append(RedisCommand(["HDEL", keys.idReservations(bucket: bucket)] + members[start..<min(start + 2_000, members.count)]))
            }
        }
        if !externalTrees.isEmpty {
            outputs.notifications += try await watchExternalDependencies(of: tree, in: externalTrees)
        }
        // A big tree's ready tasks go out 10,000 at a time, each round renewing the mark.
        if outputs.ready.count > 10_000 {
            let ready = outputs.ready
            var start = 0
            while ready.count - start > 10_000 {
                var round = TreeOutputs()
                round.ready = Array(ready[start..<start + 10_000])
                start += 10_000
                try await dispatch(round, now: now, alsoSending: [RedisCommand("ZADD", keys.inflightSubmissions, "XX", String(clock()), mark)])
            }
            outputs.ready = Array(ready[start...])
        }
        // The index writes ride along with the first dispatch round: one round trip less per submit.
        try await dispatch(outputs, now: now, alsoSending: indexes)
        FaultPoint.reach("submit.after-dispatch")
        try await redis.send("ZREM", keys.inflightSubmissions, mark)
        return SubmitResult(treeID: tree.treeID, taskIDs: ids)
    }

    /// Refuses a new tree of more than ``maxTasksPerTree`` tasks (`limits.max_tasks_per_tree`).
    func checkTreeSize(_ count: Int) throws {
        guard count <= maxTasksPerTree else {
            throw BatonError.payloadTooLarge(
                "Task array has \(count) tasks; limits.max_tasks_per_tree allows \(maxTasksPerTree)", field: "tasks")
        }
    }

    /// The arguments of a tree's `submitTree.lua` calls around its task list.
    struct TreeWrite: Sendable {
        var treeID: String
        /// User, started flag, root id, origin type.
        var head: [String]
        var token: String
        /// Retention in ms (`""`: kept until deleted).
        var retention: String
        /// The submission's in-flight mark, renewed by every slice: the sweep leaves a
        /// submission alone while it writes, however long a big tree takes.
        var mark: String

        /// The arguments after the task list: submission token, retention.
        var tail: [String] { [token, retention] }
    }

    /// Tasks per `submitTree.lua` call. A bigger tree is staged in slices of this many tasks and
    /// committed by a last call, so no call holds Redis long while readers still see the whole
    /// tree or nothing (baton-bench bigtree on this machine: a slice of 1,000 took 16–23 ms of
    /// Redis time, one of 500 a median of 9 ms and at most 20).
    static let submitSliceTasks = 250

    /// Writes a tree's tasks (each `[id, field count, fields…]`) with `submitTree.lua`: in one
    /// call, or staged in slices and then committed.
    /// - Returns: whether the tree was stored already by this submission's token (a replay).
    func write(_ submission: TreeWrite, _ tasks: [[String]], now: Int64) async throws -> Bool {
        if tasks.count <= Self.submitSliceTasks {
            let call = treeCall(.submitTree, submission.treeID, now: now,
                                submission.head + ["all", "0", String(tasks.count)] + tasks.joined() + submission.tail)
            return try await run([call], operation: "submit", timeout: .seconds(60)).first?.string == "REPLAY"
        }
        guard !submission.token.isEmpty else { throw BatonError.internal("a tree staged in slices needs a submission token") }
        var position = 0
        do {
            return try await stage(submission, tasks, position: &position)
        } catch let error as BatonError where error.code != .unavailable {
            // Refused: remove what this submission staged. When that fails too, the outcome is
            // left to the sweep (``repairInflightSubmissions(olderThanMillis:limit:)``), which
            // removes a staging nobody writes to any more and gives its ids back.
            if position > 0, !(await removeStaging(submission)) {
                throw BatonError.unavailable(
                    "\(error.message); what was staged of task tree \(submission.treeID) is removed within about a minute")
            }
            throw error
        }
    }

    /// Stages `tasks` slice by slice from `position` (advanced past each slice staged), then commits.
    /// The first slice goes alone (it may find an earlier staging to remove); the others travel
    /// ``stageWindow`` to a round trip: Redis still runs them one by one, other clients between
    /// them, and a slice after a refused one is refused too (it does not follow), so nothing is
    /// written out of order.
    private func stage(_ submission: TreeWrite, _ tasks: [[String]], position: inout Int) async throws -> Bool {
        var restaged = false
        while position < tasks.count {
            let window = position == 0 ? 1 : Self.stageWindow
            var slices: [(mode: String, at: Int, tasks: ArraySlice<[String]>)] = []
            var next = position
            while slices.count < window && next < tasks.count {
                let end = min(next + Self.submitSliceTasks, tasks.count)
                slices.append(("stage", next, tasks[next..<end]))
                next = end
            }
            let replies = try await writeCalls(submission, slices, advancing: &position)
            switch replies.first ?? nil {
            case "REPLAY":
                return true
            case "RESTAGE":
                // This submission's own earlier attempt left a staging: remove it, stage again.
                guard !restaged, await removeStaging(submission) else {
                    throw BatonError.unavailable("Task tree \(submission.treeID): an earlier staging of this submission could not be removed")
                }
                restaged = true
            default:
                break
            }
        }
        return try await writeCalls(submission, [("commit", tasks.count, [])], advancing: &position).first == "REPLAY"
    }

    /// Slices of a staged tree per round trip.
    static let stageWindow = 4

    /// `submitTree.lua` calls in one round trip, with the renewal of the submission's mark;
    /// `position` advances past every slice staged (`OK`) before the first refusal, which is thrown.
    /// - Returns: the replies (`OK`, `REPLAY`, `RESTAGE`).
    private func writeCalls(
        _ submission: TreeWrite, _ slices: [(mode: String, at: Int, tasks: ArraySlice<[String]>)], advancing position: inout Int
    ) async throws -> [String?] {
        let now = clock()
        let calls = slices.map { slice in
            treeCall(.submitTree, submission.treeID, now: now,
                     submission.head + [slice.mode, String(slice.at), String(slice.tasks.count)] + slice.tasks.joined() + submission.tail)
        }
        let renew = RedisCommand("ZADD", keys.inflightSubmissions, "XX", String(now), submission.mark)
        let replies = try await evalPipeline(calls, alsoSending: [renew], operation: "submit", timeout: .seconds(60)).scripts
        for (slice, reply) in zip(slices, replies) {
            if let error = Self.scriptError(reply, operation: "submit") { throw error }
            if slice.mode == "stage" && reply.string == "OK" { position = slice.at + slice.tasks.count }
        }
        return replies.map(\.string)
    }

    /// Removes what `submission` staged and never committed (`deleteTree.lua` 'staged',
    /// ``deleteSliceTasks`` task keys per call). Best effort: a failure leaves it to the sweep
    /// (``repairInflightSubmissions(olderThanMillis:limit:)``).
    /// - Returns: whether nothing staged by it is left.
    func removeStaging(_ submission: TreeWrite) async -> Bool {
        (try? await removeStaging(of: submission.treeID, token: submission.token)) != nil
    }

    func removeStaging(of treeID: String, token: String) async throws {
        for _ in 0..<2_000 {
            let reply = try await run([treeCall(.deleteTree, treeID, now: clock(), ["staged", String(Self.deleteSliceTasks), token])], operation: "delete")
            if reply.first?.string == "DONE" { return }
        }
        throw BatonError.internal("removing the staged tree \(treeID) did not end")
    }

    /// `inputs[dep] = result` for each (dependency, result JSON) in order, overwriting a declared key.
    static func merged(_ inputs: JSONValue, _ results: [(String, String)]) -> JSONValue {
        var object = inputs.objectValue ?? [:]
        for (key, text) in results { object[key] = (try? JSONValue(parsing: text)) ?? .null }
        return .object(object)
    }

    /// Starts a stored tree, or repairs a started one by queueing again whatever is ready.
    public func startTree(_ treeID: String, userID: String?) async throws {
        let record = try await treeRecord(treeID, userID: userID)
        try await runStartTree(treeID, taskCount: record.taskCount, operation: "execute")
    }

    /// Tasks per `startTree.lua` call.
    static let startSliceTasks = 500

    /// Runs `startTree.lua` on a tree in slices of ``startSliceTasks`` ranks and queues what each
    /// slice reports ready before the next one (so a big tree's first tasks run while the rest is
    /// looked at). `keepingFresh`: an in-flight submission mark whose time each slice renews.
    func runStartTree(_ treeID: String, taskCount: Int, operation: String, keepingFresh mark: String? = nil) async throws {
        var first = 0
        repeat {
            let now = clock()
            let last = first + Self.startSliceTasks >= taskCount ? -1 : first + Self.startSliceTasks - 1
            let reply = try await run([treeCall(.startTree, treeID, now: now, [String(first), String(last)])], operation: operation)[0]
            try await dispatch(TreeOutputs(reply: reply, treeID: treeID), now: now,
                               alsoSending: mark.map { [RedisCommand("ZADD", keys.inflightSubmissions, "XX", String(now), $0)] } ?? [])
            first += Self.startSliceTasks
        } while first < taskCount
    }

    // MARK: Steps of a submission

    /// Finds the trees of dependencies outside the array; each must be a task of the same user.
    func locateExternalDependencies(of tree: ValidatedTree, userID: String?) async throws -> [String: String] {
        let external = tree.externalDependencies.sorted()
        if external.isEmpty { return [:] }
        let treeIDs = try await self.treeIDs(ofTasks: external)
        let distinctTrees = Array(Set(treeIDs.compactMap { $0 }))
        let owners = try await redis.pipeline(distinctTrees.map { RedisCommand("HMGET", keys.tree($0), "user_id", "status") })
        // A tree still being staged (a big submission in flight) has no tasks to depend on yet.
        let ownerOf = Dictionary(uniqueKeysWithValues: zip(distinctTrees, owners).compactMap { treeID, reply -> (String, String)? in
            let fields = reply.array ?? []
            guard fields.count == 2, fields[1].string != "staging" else { return nil }
            return (treeID, fields[0].string ?? "")
        })
        var located: [String: String] = [:]
        for (dependencyID, treeID) in zip(external, treeIDs) {
            // A tree submitted without a user (Redis-native, no `user_id`) is owned by "" and may
            // depend only on tasks that nobody owns.
            if let treeID, let owner = ownerOf[treeID], owner == (userID ?? "") {
                located[dependencyID] = treeID
                continue
            }
            let (taskIndex, position) = Self.firstReference(to: dependencyID, in: tree.tasks)
            throw BatonError.validationFailed(
                "Dependency '\(dependencyID)' of task '\(tree.tasks[taskIndex].name)' is not a valid id or name in the task array, nor an existing task",
                field: "tasks[\(taskIndex)].dependencies[\(position)]")
        }
        return located
    }

    private static func firstReference(to dependencyID: String, in tasks: [TaskRecord]) -> (Int, Int) {
        for (index, task) in tasks.enumerated() {
            if let position = task.dependencies.firstIndex(where: { $0.id == dependencyID }) { return (index, position) }
        }
        return (0, 0)
    }

    /// Claims every id in the id index, all or none (ids this `token` reserved before count as claimed).
    func reserve(_ ids: [String], for treeID: String, token: String, tasks: [TaskRecord]) async throws {
        // At most 2,000 ids per call (a few ms of Redis time): a big tree's reservation is many calls.
        let buckets = Dictionary(grouping: ids, by: Keys.bucket(of:)).flatMap { bucket, members in
            stride(from: 0, to: members.count, by: 2_000).map { (key: bucket, value: Array(members[$0..<min($0 + 2_000, members.count)])) }
        }
        let calls = buckets.map { bucket, members in
            ScriptCall.ids(.reserveIDs, bucket: bucket, keys: keys, tree: treeID, token: token, ids: members)
        }
        let replies = try await evalPipeline(calls, operation: "reserve")
        // Only the buckets that answered '' were reserved by this call: give back exactly those.
        let reserved = zip(buckets, replies).filter { $0.1.string == "" }.flatMap { $0.0.value }
        if reserved.count == ids.count { return }
        // Taken — unless by this very submission, whose tree is stored already (its reservation
        // tokens were cleared then): a replay, which submitTree answers REPLAY.
        if !token.isEmpty, try await redis.send("HGET", keys.tree(treeID), "token").string == token { return }
        await releaseReservation(reserved, for: treeID, token: token)
        if let id = replies.lazy.compactMap({ $0.string }).first(where: { !$0.isEmpty }) {
            let index = tasks.firstIndex { $0.id == id } ?? 0
            if try await isHeldBySubmissionInFlight(id) {
                // Another submission reserved it and its tree is not stored: it may still be
                // writing, or it died (then the sweep gives the id back). Only time tells.
                throw BatonError.unavailable(
                    "Task id '\(id)' (tasks[\(index)].id) is reserved by an earlier submission whose outcome is not "
                        + "known yet; retry later (the id is given back within about a minute if that submission never completes)")
            }
            throw BatonError.alreadyExists("Task id '\(id)' already exists", field: "tasks[\(index)].id")
        }
        if let error = replies.lazy.compactMap({ Self.scriptError($0, operation: "submit") }).first { throw error }
        throw BatonError.internal("reserving task ids failed: no reply")
    }

    /// Whether `id` is reserved by a submission whose tree is not stored (yet): the holder's token
    /// is still in the `reserving` bucket and the tree it names does not exist.
    func isHeldBySubmissionInFlight(_ id: String) async throws -> Bool {
        let bucket = Keys.bucket(of: id)
        let replies = try await redis.pipeline([
            RedisCommand("HGET", keys.idIndex(bucket: bucket), id),
            RedisCommand("HGET", keys.idReservations(bucket: bucket), id),
        ])
        guard let owner = replies[0].string, replies[1].string != nil, Identifier.isValid(owner) else { return false }
        return try await redis.send("EXISTS", keys.tree(owner)).int == 0
    }

    /// Gives back reserved ids after a refused submission (best effort: a failure leaves ids that
    /// point at a tree that does not exist, which reads treat as missing).
    func releaseReservation(_ ids: [String], for treeID: String, token: String) async {
        try? await releaseReservationOrThrow(ids, for: treeID, token: token)
    }

    private func releaseReservationOrThrow(_ ids: [String], for treeID: String, token: String) async throws {
        let buckets = Dictionary(grouping: ids, by: Keys.bucket(of:))
        let calls = buckets.map { bucket, members in
            ScriptCall.ids(.releaseIDs, bucket: bucket, keys: keys, tree: treeID, token: token, ids: members)
        }
        // A bucket that refuses (it holds something that is not an index) holds none of ours:
        // only a failure to reach Redis leaves ids behind.
        _ = try await evalPipeline(calls, operation: "release")
    }

    /// A submission that stored nothing gives its ids back and then drops its mark — the mark
    /// only once the ids are back: if Redis fails in between, the mark stays, and the sweep
    /// (``repairInflightSubmissions(olderThanMillis:limit:)``) gives them back after a minute.
    func abandon(_ ids: [String], for treeID: String, token: String, mark: String) async {
        do {
            try await releaseReservationOrThrow(ids, for: treeID, token: token)
            try await redis.send("ZREM", keys.inflightSubmissions, mark)
        } catch {
            // Left to the sweep.
        }
    }

    /// Registers the new tasks as dependents of tasks in other trees; dependencies that already
    /// reached a final state are reported back as notifications to apply now.
    func watchExternalDependencies(
        of tree: ValidatedTree, in externalTrees: [String: String]
    ) async throws -> [TreeOutputs.Notification] {
        var calls: [RedisScriptCall] = []
        var edges: [(task: String, dependency: Dependency)] = []
        for task in tree.tasks {
            for dependency in task.dependencies {
                guard let dependencyTree = externalTrees[dependency.id] else { continue }
                calls.append(ScriptCall.treeRecord(
                    .watchDependency, tree: dependencyTree, keys: keys,
                    arguments: [dependency.id, tree.treeID, task.id, dependency.required ? "1" : "0"]))
                edges.append((task.id, dependency))
            }
        }
        let replies = try await run(calls, operation: "submit")
        var notifications: [TreeOutputs.Notification] = []
        for (edge, reply) in zip(edges, replies) {
            guard let parts = reply.array?.compactMap(\.string), parts.count == 3 else { continue }
            notifications.append(.init(
                treeID: tree.treeID, taskID: edge.task, required: edge.dependency.required,
                dependencyID: edge.dependency.id, state: parts[0], result: parts[1], cause: parts[2]))
        }
        return notifications
    }

    // MARK: Recovery

    /// Finishes submissions that stopped between storing their tree and queueing its ready tasks
    /// (the process died): every tree marked in flight for longer than `olderThanMillis` is
    /// repaired like ``startTree(_:userID:)`` when it was started, then unmarked. A mark whose tree
    /// is not stored is left for ``abandonedSubmissionMillis`` (a huge submission may still be
    /// writing it), then dropped. Any number of schedulers may run it at once: the repair is idempotent.
    /// - Returns: how many marks were handled.
    @discardableResult
    public func repairInflightSubmissions(olderThanMillis: Int64, limit: Int = 100) async throws -> Int {
        let now = clock()
        let reply = try await redis.send(RedisCommand(
            "ZRANGEBYSCORE", keys.inflightSubmissions, "-inf", String(now - olderThanMillis),
            "WITHSCORES", "LIMIT", "0", String(limit)))
        let flat = reply.array ?? []
        var handled = 0
        for index in stride(from: 0, to: flat.count - 1, by: 2) {
            guard let mark = flat[index].string, let since = flat[index + 1].string.flatMap({ Double($0) }) else { continue }
            // `<tree>\t<token>` (a bare tree id: any token).
            let (treeID, token) = Keys.parseMember(mark).map { ($0.tree, Optional($0.task)) } ?? (mark, nil)
            let abandoned = Double(now) - since >= Double(Self.abandonedSubmissionMillis)
            switch try await redis.send("HGET", keys.tree(treeID), "started").string {
            case "1":
                let count = try await redis.send("ZCARD", keys.treeTasks(treeID)).int ?? 0
                try await runStartTree(treeID, taskCount: count, operation: "repair")
                if try await !settleReservations(of: treeID, token: token, abandoned: abandoned) { continue }
            case "0":
                // Stored without executing: nothing to queue.
                if try await !settleReservations(of: treeID, token: token, abandoned: abandoned) { continue }
            default:
                if !abandoned { continue }
                // A big submission stages its tree in slices: remove a staging nobody wrote to
                // for as long (one still being written is left alone).
                if let staging = try await staging(of: treeID, now: now) {
                    guard let token, staging.token == token, staging.abandoned else { continue }
                    try await removeStaging(of: treeID, token: token)
                }
                try await releaseAbandonedReservation(of: treeID, token: token)
            }
            try await redis.send("ZREM", keys.inflightSubmissions, mark)
            handled += 1
        }
        return handled
    }

    /// Ends the reservations a mark's attempt (`token`) left on a stored tree: an id whose task is
    /// stored keeps its index entry and drops the reservation; an id whose task is not (an added
    /// task whose process died before its script) is given back once the attempt is `abandoned`.
    /// - Returns: whether nothing is left reserved (the mark can go).
    func settleReservations(of treeID: String, token: String?, abandoned: Bool) async throws -> Bool {
        guard let token else { return true }
        let held = try await reservations(of: treeID, token: token)
        if held.isEmpty { return true }
        let stored = try await redis.pipeline(held.map { RedisCommand("EXISTS", keys.task(treeID, $0)) })
        let storedIDs = zip(held, stored).filter { $0.1.int == 1 }.map(\.0)
        let missing = zip(held, stored).filter { $0.1.int != 1 }.map(\.0)
        if !storedIDs.isEmpty {
            _ = try await redis.pipeline(Dictionary(grouping: storedIDs, by: Keys.bucket(of:)).map { bucket, ids in
                RedisCommand(["HDEL", keys.idReservations(bucket: bucket)] + ids)
            })
        }
        if missing.isEmpty { return true }
        if !abandoned { return false }
        for (bucket, ids) in Dictionary(grouping: missing, by: Keys.bucket(of:)) {
            _ = try await run([ScriptCall.ids(.releaseIDs, bucket: bucket, keys: keys, tree: treeID, token: token, ids: ids)],
                              operation: "release")
        }
        return true
    }

    /// The ids reserved for `treeID` by the attempt `token` (the `reserving` buckets hold only
    /// reservations in flight, so they are small to read).
    func reservations(of treeID: String, token: String) async throws -> [String] {
        let buckets = try await redis.pipeline((0..<Keys.indexBuckets).map { RedisCommand("HGETALL", keys.idReservations(bucket: $0)) })
        var held: [String] = []
        for (bucket, reply) in buckets.enumerated() {
            let ours = (reply.stringDictionary ?? [:]).filter { $0.value == token }.map(\.key)
            if ours.isEmpty { continue }
            let owners = try await redis.send(RedisCommand(["HMGET", keys.idIndex(bucket: bucket)] + ours)).array ?? []
            held += zip(ours, owners).filter { $0.1.string == treeID }.map(\.0)
        }
        return held
    }

    /// How long a submission may be in flight without its tree stored before it counts as
    /// abandoned: its ids are given back and its mark dropped (a replay re-marks it first).
    static let abandonedSubmissionMillis: Int64 = 60_000

    /// The staging of `treeID` (`nil` when the tree is not being staged): whose token it is, and
    /// whether nobody wrote a slice for ``abandonedSubmissionMillis`` (an `updated_at` that is
    /// missing or not a number counts as old: the record is not what the staging writes).
    func staging(of treeID: String, now: Int64) async throws -> (token: String?, abandoned: Bool)? {
        let fields = try await redis.send("HMGET", keys.tree(treeID), "status", "token", "updated_at").array ?? []
        guard fields.count == 3, fields[0].string == "staging" else { return nil }
        let updated = fields[2].string.flatMap { Int64($0) } ?? .min
        return (fields[1].string, updated <= now - Self.abandonedSubmissionMillis)
    }

    /// Gives back the ids an abandoned submission reserved for `treeID` but never stored: the
    /// `reserving` buckets hold only reservations in flight, so they are small to read.
    func releaseAbandonedReservation(of treeID: String, token: String?) async throws {
        let buckets = try await redis.pipeline((0..<Keys.indexBuckets).map { RedisCommand("HGETALL", keys.idReservations(bucket: $0)) })
        for (bucket, reply) in buckets.enumerated() {
            let reserving = reply.stringDictionary ?? [:]
            if reserving.isEmpty { continue }
            let ids = Array(reserving.keys)
            let owners = try await redis.send(RedisCommand(["HMGET", keys.idIndex(bucket: bucket)] + ids)).array ?? []
            let ours = zip(ids, owners).filter { $0.1.string == treeID && (token == nil || reserving[$0.0] == token) }.map(\.0)
            for (token, members) in Dictionary(grouping: ours, by: { reserving[$0] ?? "" }) {
                _ = try await run([ScriptCall.ids(.releaseIDs, bucket: bucket, keys: keys, tree: treeID, token: token, ids: members)],
                                  operation: "release")
            }
        }
    }
}
