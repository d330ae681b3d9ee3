import RedisClient
import BatonCore

/// Every Redis key and channel name Baton uses, in one place.
///
/// Keys are grouped by a hash tag so that every script touches one cluster slot:
///
/// | scope | tag | keys |
/// |---|---|---|
/// | a tree | `{t:<tree_id>}` | `tree` (hash), `tasks` (zset), `task:<id>` (hash per task), `events` (stream) |
/// | a queue shard of an executor type | `{q:<executor>}` (shard 0), `{q<n>:<executor>}` (shard n) | `ready`, `leases`, `delayed`, `marker` (zsets), `seq` (counter), `cancels` (hash) |
/// | the id index | `{idx:<n>}` | `ids` (hash task id → tree id), 64 buckets |
/// | a user | `{u:<user>}` | `trees` (zset of tree ids by creation time) |
/// | the bus | `{bus}` | `submit` (stream), and per report shard `{bus:<n>}`: `reports` (stream) |
///
/// `docs/PROTOCOL.md` documents each key's fields for apps that read or write Redis directly.
public struct Keys: Sendable, Hashable {
    /// The prefix of every key (`baton` by default; tests use a unique one each).
    public let namespace: String

    /// How many report streams the bus has (`bus.shards`). Agents and schedulers of a namespace
    /// must agree: ``BatonStore/checkBusShards()`` compares it with the count recorded in Redis.
    public let busShards: Int

    /// Queue shards of the executor types that have more than one (`executors.<type>.queue_shards`);
    /// every other type has one. Every service of a namespace must agree:
    /// ``BatonStore/checkQueueShards()`` compares them with the counts recorded in Redis.
    public let queueShards: [String: Int]

    /// Buckets of the task-id index.
    public static let indexBuckets = 64

    /// Keys under a namespace; it must pass ``validate(namespace:)``.
    public init(namespace: String = "baton", busShards: Int = 16, queueShards: [String: Int] = [:]) {
        precondition((try? Self.validate(namespace: namespace)) != nil, "invalid key namespace '\(namespace)'")
        precondition(busShards >= 1, "a bus needs at least one shard")
        precondition(queueShards.values.allSatisfy { $0 >= 1 }, "a queue needs at least one shard")
        self.namespace = namespace
        self.busShards = busShards
        self.queueShards = queueShards.filter { $0.value > 1 }
    }

    /// A namespace is non-empty and holds no braces (they would break the hash tags) and no
    /// whitespace or control characters.
    public static func validate(namespace: String) throws(BatonError) {
        let bad = namespace.unicodeScalars.first { $0 == "{" || $0 == "}" || $0.properties.isWhitespace || $0.value < 0x20 }
        if namespace.isEmpty || bad != nil {
            throw BatonError.invalidArgument(
                "namespace '\(namespace)' must be non-empty without braces, spaces or control characters", field: "namespace")
        }
    }

    // MARK: Tree scope — `{t:<tree_id>}`

    /// The hash tag of a tree.
    public func treeTag(_ treeID: String) -> String { "\(namespace):{t:\(treeID)}" }

    /// Hash: the tree record (owner, status, counters).
    public func tree(_ treeID: String) -> String { "\(treeTag(treeID)):tree" }

    /// Sorted set: the tree's task ids, scored by submission order.
    public func treeTasks(_ treeID: String) -> String { "\(treeTag(treeID)):tasks" }

    /// Hash: one task record.
    public func task(_ treeID: String, _ taskID: String) -> String { "\(taskPrefix(treeID))\(taskID)" }

    /// The prefix of the tree's task keys; scripts append a task id to it.
    public func taskPrefix(_ treeID: String) -> String { "\(treeTag(treeID)):task:" }

    /// Stream: the tree's event log, replayed by streaming clients.
    public func treeEvents(_ treeID: String) -> String { "\(treeTag(treeID)):events" }

    // MARK: Queue scope — `{q:<executor>}`, `{q<n>:<executor>}`

    /// How many queue shards an executor type has (`executors.<type>.queue_shards`, default 1).
    public func queueShardCount(_ executor: String) -> Int { queueShards[executor] ?? 1 }

    /// Every queue shard of an executor type, shard 0 first.
    public func queues(of executor: String) -> [ExecutorQueue] {
        (0..<queueShardCount(executor)).map { ExecutorQueue(executor: executor, shard: $0) }
    }

    /// The queue shard a task of `executor` always goes to: CRC16 of its queue member modulo the
    /// type's shard count, so every process finds a task's queue, lease and cancel request alone.
    public func queue(_ executor: String, tree treeID: String, task taskID: String) -> ExecutorQueue {
        queue(executor, member: Self.member(tree: treeID, task: taskID))
    }

    /// The queue shard of a queue member (`<tree_id>\t<task_id>`).
    public func queue(_ executor: String, member: String) -> ExecutorQueue {
        let count = queueShardCount(executor)
        let shard = count == 1 ? 0 : Int(ClusterSlot.crc16(utf8: member)) % count
        return ExecutorQueue(executor: executor, shard: shard)
    }

    /// The hash tag of a queue shard: `{q:<executor>}` for shard 0 (the only one by default),
    /// `{q<n>:<executor>}` for shard n.
    public func queueTag(_ queue: ExecutorQueue) -> String {
        queue.shard == 0 ? "\(namespace):{q:\(queue.executor)}" : "\(namespace):{q\(queue.shard):\(queue.executor)}"
    }

    /// Sorted set: tasks ready to run, member `<tree_id>\t<task_id>`, score `priority·2^32 + fair
    /// tag` (`queue.lua`).
    public func ready(_ queue: ExecutorQueue) -> String { "\(queueTag(queue)):ready" }

    /// Counter: the FIFO sequence of the ready queue before fair tags (seeds them once).
    public func readySequence(_ queue: ExecutorQueue) -> String { "\(queueTag(queue)):seq" }

    /// Sorted set with at most one member: wakes agents blocked in BZPOPMIN when work arrives.
    public func marker(_ queue: ExecutorQueue) -> String { "\(queueTag(queue)):marker" }

    /// Sorted set: claimed tasks, member `<tree_id>\t<task_id>`, score = lease expiry (epoch ms).
    public func leases(_ queue: ExecutorQueue) -> String { "\(queueTag(queue)):leases" }

    /// Sorted set: retries waiting for their backoff, member
    /// `<priority>\t<user>\t<concurrency key>\t<tree_id>\t<task_id>` (``delayedMember(_:)``),
    /// score = due time (epoch ms).
    public func delayed(_ queue: ExecutorQueue) -> String { "\(queueTag(queue)):delayed" }

    /// A delayed set's member for a retry of `ready`.
    public static func delayedMember(_ ready: TreeOutputs.Ready) -> String {
        "\(ready.priority)\t\(ready.userID)\t\(ready.concurrencyKey)\t\(member(tree: ready.treeID, task: ready.taskID))"
    }

    /// Hash: the limits and fairness weights published to a queue shard (`admitQueue.lua`):
    /// `max_running`, `max_running_per_key`, `w:<user>`; and `throttled`, the count of claims a
    /// limit held back.
    public func admission(_ queue: ExecutorQueue) -> String { "\(queueTag(queue)):admission" }

    /// Hash: a queue shard's fair-queueing state (`queue.lua`): `v<p>` the virtual time of
    /// priority p, `<p>\t<user>` the tag the user's next task at p starts from.
    public func fair(_ queue: ExecutorQueue) -> String { "\(queueTag(queue)):fair" }

    /// Hash: concurrency key → leased tasks of that key on a queue shard.
    public func keyUse(_ queue: ExecutorQueue) -> String { "\(queueTag(queue)):keyuse" }

    /// Set: the concurrency keys of a queue shard that have tasks held.
    public func heldKeys(_ queue: ExecutorQueue) -> String { "\(queueTag(queue)):heldkeys" }

    /// Sorted set: tasks of concurrency key `key` held back while the key was at its limit.
    public func held(_ queue: ExecutorQueue, key: String) -> String { "\(queueTag(queue)):held:\(key)" }

    /// Hash: cancellation requests for running tasks of a queue shard, field
    /// `<tree_id>\t<task_id>`, value = the attempt to stop. Written by `cancel` after the tree
    /// script (only while the task holds a lease), read by every agent heartbeat (so a lost
    /// pub/sub signal still cancels), removed when the lease is dropped.
    public func cancels(_ queue: ExecutorQueue) -> String { "\(queueTag(queue)):cancels" }

    // Shard 0 of an executor type's queue, by the type's name (tests and single-shard callers).
    public func ready(_ executor: String) -> String { ready(ExecutorQueue(executor: executor)) }
    public func readySequence(_ executor: String) -> String { readySequence(ExecutorQueue(executor: executor)) }
    public func marker(_ executor: String) -> String { marker(ExecutorQueue(executor: executor)) }
    public func leases(_ executor: String) -> String { leases(ExecutorQueue(executor: executor)) }
    public func delayed(_ executor: String) -> String { delayed(ExecutorQueue(executor: executor)) }
    public func cancels(_ executor: String) -> String { cancels(ExecutorQueue(executor: executor)) }

    /// Hash: a schedule's record (`BatonStore+Schedules.swift`).
    public func schedule(_ scheduleID: String) -> String { "\(namespace):{s:\(scheduleID)}:schedule" }

    /// Sorted set: a schedule's runs, member = the run's tree id, score = its due time (epoch ms).
    public func scheduleRuns(_ scheduleID: String) -> String { "\(namespace):{s:\(scheduleID)}:runs" }

    /// Sorted set: a user's schedules, member = schedule id, score = creation time (epoch ms).
    public func userSchedules(_ userID: String) -> String { "\(namespace):{u:\(userID)}:schedules" }

    /// Sorted set: every schedule (admin listings), member = schedule id, score = creation time.
    public var schedules: String { "\(namespace):schedules" }

    /// Sorted set: what must happen at a time (epoch ms score): member `start\t<tree_id>` (a tree
    /// submitted with `run_at`) or `schedule\t<schedule_id>` (its next due time). Read by every
    /// scheduler's timekeeper; firing is idempotent.
    public var timers: String { "\(namespace):timers" }

    /// Hash: the queue shard count of each executor type that has more than one, as the first
    /// service configured with it recorded it (``BatonStore/checkQueueShards()``).
    public var queueShardCounts: String { "\(namespace):queues:shards" }

    /// Sorted set: executor types agents served, scored by when an agent last said so (epoch ms).
    /// The reaper sweeps only the types served within ``BatonStore/servedWindowMillis`` — a lease
    /// exists only while an agent of its type lives or lately lived — so names that were merely
    /// submitted (typos included) cost it nothing.
    public var executorsServed: String { "\(namespace):executors:served" }

    /// String with a TTL: a dashboard session (JSON `{user_id, admin, csrf}`), by the SHA-256
    /// hex of its cookie token.
    public func session(_ tokenDigest: String) -> String { "\(namespace):session:\(tokenDigest)" }

    /// Hash with a TTL: a live agent's record (``AgentRecord``), refreshed by its heartbeat.
    public func agent(_ agentID: String) -> String { "\(namespace):agent:\(agentID)" }

    /// Sorted set: agent ids by when they last refreshed their record (epoch ms).
    public var agents: String { "\(namespace):agents" }

    // MARK: Indexes

    /// Hash bucket of the task-id index that holds `taskID` (task id → tree id).
    public func idIndex(for taskID: String) -> String { idIndex(bucket: Self.bucket(of: taskID)) }

    /// Hash bucket `n` of the task-id index.
    public func idIndex(bucket: Int) -> String { "\(namespace):{idx:\(bucket)}:ids" }

    /// Hash bucket `n` of the id reservations: task id → token of the submission that reserved it,
    /// from the reservation until its tree is stored (a replay of that submission finds its own ids).
    public func idReservations(bucket: Int) -> String { "\(namespace):{idx:\(bucket)}:reserving" }

    /// Sorted set: trees whose submission is between reserving its ids and queueing its ready
    /// tasks, scored by the time it began. A mark older than a few seconds is a submission whose
    /// process died; the scheduler's sweep finishes it.
    public var inflightSubmissions: String { "\(namespace):submissions:inflight" }

    /// Sorted set: a user's trees by creation time (epoch ms).
    public func userTrees(_ userID: String) -> String { "\(namespace):{u:\(userID)}:trees" }

    /// Sorted set: finished trees with a retention, scored by when they expire (epoch ms). The
    /// scheduler's sweep deletes the due ones (a hint: the tree record's `expires_at` decides).
    public var expiringTrees: String { "\(namespace):trees:expiring" }

    /// Sorted set: every tree by creation time (epoch ms), for administrators' listings.
    public var allTrees: String { "\(namespace):trees" }

    /// The index bucket of a task id: CRC16 of the id modulo ``indexBuckets``.
    public static func bucket(of taskID: String) -> Int {
        Int(ClusterSlot.crc16(utf8: taskID)) % indexBuckets
    }

    /// String: the remembered answer of a gateway `POST /v1/trees` sent with an `Idempotency-Key`
    /// (JSON `{state, hash, status, body}`, expiring). `keyDigest` is the SHA-256 hex of the client's key.
    public func idempotency(userID: String, keyDigest: String) -> String {
        "\(namespace):{u:\(userID)}:idempotency:\(keyDigest)"
    }

    // MARK: Bus

    /// Stream: agents' reports (progress, completed, failed, …) of the trees of one bus shard,
    /// consumed by the schedulers. Each shard has its own tag, so on a cluster the shards spread
    /// over the masters.
    public func reports(shard: Int) -> String { "\(namespace):{bus:\(shard)}:reports" }

    /// The report stream of a tree: a tree's reports always go to the same one, so they are
    /// applied in the order they were sent.
    public func reports(ofTree treeID: String) -> String { reports(shard: busShard(ofTree: treeID)) }

    /// The bus shard of a tree's reports: `CRC16(tree id) mod bus.shards`.
    public func busShard(ofTree treeID: String) -> Int { Int(ClusterSlot.crc16(utf8: treeID)) % busShards }

    /// Every report stream.
    public var allReports: [String] { (0..<busShards).map(reports(shard:)) }

    /// Stream: reports an agent applied itself (``BatonStore/applyOwn(_:leaseMillis:claimable:)``),
    /// kept for the schedulers' replay, which reads them in batches every second instead of
    /// waking for each: one per bus shard, beside its report stream.
    public func applied(shard: Int) -> String { "\(namespace):{bus:\(shard)}:applied" }

    /// The applied-report stream of a tree (same shard as ``reports(ofTree:)``).
    public func applied(ofTree treeID: String) -> String { applied(shard: busShard(ofTree: treeID)) }

    /// Every applied-report stream.
    public var allApplied: [String] { (0..<busShards).map(applied(shard:)) }

    /// Every stream of the schedulers' consumer group: the bus and the applied reports.
    public var groupStreams: [String] { busStreams + allApplied }

    /// Every stream the schedulers consume: the report shards and the submissions.
    public var busStreams: [String] { allReports + [submissions] }

    /// String: the number of report shards the namespace's bus was started with.
    public var busShardCount: String { "\(namespace):bus:shards" }

    /// Stream: Redis-native submissions (`XADD <ns>:{bus}:submit * request_id R tasks JSON …`).
    public var submissions: String { "\(namespace):{bus}:submit" }

    /// List: the answer to a Redis-native submission (`BLPOP` it; expires after an hour).
    public func submissionReply(_ requestID: String) -> String { "\(namespace):submit:reply:\(requestID)" }

    /// Stream: the answer to every Redis-native submission (`entry_id`, `request_id`, `reply` JSON).
    public var submissionResults: String { "\(namespace):submit:results" }

    /// Consumer group of the schedulers on the bus streams.
    public static let schedulerGroup = "schedulers"

    /// String with a TTL: "the scheduler consuming as `consumer` is alive", refreshed while it
    /// runs. A consumer of the group without it is dead, and its unacknowledged entries are taken
    /// over at once instead of after the idle timeout.
    public func schedulerAlive(_ consumer: String) -> String { "\(namespace):scheduler:alive:\(consumer)" }

    // MARK: Pub/sub channels (nudges only; the truth is in hashes and streams)

    /// Shard channel: "the tree's event stream has news" (`SPUBLISH` by the tree's scripts; it
    /// carries the tree's tag, so on a cluster it lives on the tree's node).
    public func treeChannel(_ treeID: String) -> String { "\(treeTag(treeID)):nudge" }

    /// The tree a ``treeChannel(_:)`` names, or `nil` for another channel.
    public func treeID(ofChannel channel: String) -> String? {
        let prefix = "\(namespace):{t:", suffix = "}:nudge"
        guard channel.hasPrefix(prefix), channel.hasSuffix(suffix), channel.count > prefix.count + suffix.count else { return nil }
        return String(channel.dropFirst(prefix.count).dropLast(suffix.count))
    }

    /// Shard channel: cancellation signals for agents running tasks of a queue shard; payload
    /// `<tree_id>\t<task_id>\t<attempt>`. It carries the shard's tag, so `requestCancel.lua`
    /// publishes it on the node of the leases it checked.
    public func cancelChannel(_ queue: ExecutorQueue) -> String { "\(queueTag(queue)):cancel" }

    /// The cancel channel of shard 0 of an executor type's queue.
    public func cancelChannel(_ executor: String) -> String { cancelChannel(ExecutorQueue(executor: executor)) }

    // MARK: Members

    /// A queue member for a task.
    public static func member(tree: String, task: String) -> String { "\(tree)\t\(task)" }

    /// Splits a queue member into tree and task id.
    public static func parseMember(_ member: String) -> (tree: String, task: String)? {
        guard let tab = member.firstIndex(of: "\t") else { return nil }
        return (String(member[..<tab]), String(member[member.index(after: tab)...]))
    }
}

/// One shard of an executor type's queue. Shard 0 has the type's historic keys
/// (`<ns>:{q:<executor>}:…`); a type with `executors.<type>.queue_shards: K` also has shards 1…K-1.
public struct ExecutorQueue: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The executor type.
    public var executor: String
    /// The shard, 0 ..< the type's shard count.
    public var shard: Int

    public init(executor: String, shard: Int = 0) {
        self.executor = executor
        self.shard = shard
    }

    public static func < (a: Self, b: Self) -> Bool { (a.executor, a.shard) < (b.executor, b.shard) }

    public var description: String { shard == 0 ? executor : "\(executor)#\(shard)" }
}
