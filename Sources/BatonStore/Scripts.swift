import Foundation
import RedisClient

/// The Lua scripts of `Lua/`, by the scope their keys belong to. Each case knows its `KEYS`, so
/// a call's keys are decided here and nowhere else: the client routes a call by them, and
/// `SlotTests` checks every case of these enums for the one-slot rule (a new script is checked
/// the moment it is added).
///
/// Tree-scoped scripts get `include.lua` prepended, queue scripts `queue.lua`, so each is one
/// self-contained EVALSHA body.
public enum TreeScript: String, CaseIterable, Sendable {
    case submitTree, startTree, startTasks, applyReports, resolveDependency, addTask, cancelTasks,
         reexecuteTask, archiveTree, deleteTree

    /// The script body.
    public var script: RedisScript { Scripts.tree[self]! }

    /// `KEYS`: the tree's record, its task set and its event stream (task keys derive from the first).
    public func keys(_ keys: Keys, tree treeID: String) -> [String] {
        [keys.tree(treeID), keys.treeTasks(treeID), keys.treeEvents(treeID)]
    }
}

/// Scripts that read or write one tree's task hashes through its record key alone.
public enum TreeRecordScript: String, CaseIterable, Sendable {
    case watchDependency, markReferences

    public var script: RedisScript { Scripts.treeRecord[self]! }

    /// `KEYS[1]`: the tree's record (task keys derive from it).
    public func keys(_ keys: Keys, tree treeID: String) -> [String] { [keys.tree(treeID)] }
}

/// Scripts over one queue shard of an executor type (`{q:<executor>}`, `{q<n>:<executor>}`).
public enum QueueScript: String, CaseIterable, Sendable {
    case enqueue, claimQueue, promoteDelayed, requestCancel, reapLeases, admitQueue

    public var script: RedisScript { Scripts.queue[self]! }

    /// `KEYS`, in the order the script's header declares them.
    public func keys(_ keys: Keys, queue: ExecutorQueue) -> [String] {
        switch self {
        case .enqueue: [keys.ready(queue)]
        case .claimQueue: [keys.ready(queue), keys.marker(queue), keys.leases(queue)]
        case .promoteDelayed: [keys.delayed(queue), keys.ready(queue), keys.readySequence(queue), keys.marker(queue)]
        case .requestCancel: [keys.leases(queue), keys.cancels(queue)]
        case .reapLeases: [keys.leases(queue)]
        case .admitQueue: [keys.admission(queue)]
        }
    }
}

/// Scripts over one bucket of the task-id index (`{idx:<n>}`).
public enum IndexScript: String, CaseIterable, Sendable {
    case reserveIDs, releaseIDs

    public var script: RedisScript { Scripts.index[self]! }

    /// `KEYS`: the bucket's id → tree hash and its reservations.
    public func keys(_ keys: Keys, bucket: Int) -> [String] {
        [keys.idIndex(bucket: bucket), keys.idReservations(bucket: bucket)]
    }
}

/// Scripts over one schedule (`{s:<id>}`).
public enum ScheduleScript: String, CaseIterable, Sendable {
    case fireSchedule

    public var script: RedisScript { Scripts.schedule[self]! }

    /// `KEYS`: the schedule's record and its runs.
    public func keys(_ keys: Keys, schedule scheduleID: String) -> [String] {
        [keys.schedule(scheduleID), keys.scheduleRuns(scheduleID)]
    }
}

/// The loaded bodies, read once from the module's resources.
enum Scripts {
    static let tree = Dictionary(uniqueKeysWithValues: TreeScript.allCases.map {
        ($0, RedisScript(name: $0.rawValue, source: source("include") + "\n" + source($0.rawValue)))
    })
    static let treeRecord = Dictionary(uniqueKeysWithValues: TreeRecordScript.allCases.map { ($0, plain($0.rawValue)) })
    static let queue = Dictionary(uniqueKeysWithValues: QueueScript.allCases.map {
        ($0, RedisScript(name: $0.rawValue, source: source("queue") + "\n" + source($0.rawValue)))
    })
    static let index = Dictionary(uniqueKeysWithValues: IndexScript.allCases.map { ($0, plain($0.rawValue)) })
    static let schedule = Dictionary(uniqueKeysWithValues: ScheduleScript.allCases.map { ($0, plain($0.rawValue)) })

    /// Every script's name, as its file in `Lua/` is called (`include.lua` and `queue.lua` aside).
    static var names: [String] {
        TreeScript.allCases.map(\.rawValue) + TreeRecordScript.allCases.map(\.rawValue)
            + QueueScript.allCases.map(\.rawValue) + IndexScript.allCases.map(\.rawValue)
            + ScheduleScript.allCases.map(\.rawValue)
    }

    private static func source(_ name: String) -> String {
        guard let url = Bundle.module.url(forResource: name, withExtension: "lua", subdirectory: "Lua"),
              let text = try? String(contentsOf: url, encoding: .utf8)
        else { fatalError("Lua script \(name).lua is missing from the BatonStore resources") }
        return text
    }

    private static func plain(_ name: String) -> RedisScript {
        RedisScript(name: name, source: source(name))
    }
}

/// Typed builders of the script calls whose arguments are more than a list of ids.
enum ScriptCall {
    /// Takes up to `count` of a queue shard's best ready tasks, each with a lease of `leaseMillis`.
    static func claimQueue(_ queue: ExecutorQueue, keys: Keys, now: Int64, leaseMillis: Int, count: Int) -> RedisScriptCall {
        call(.claimQueue, queue, keys, [String(now), String(leaseMillis), String(count)])
    }

    /// Ends the leases of `ending` (members), then queues `ready` by priority, then claims up to
    /// `claim.count` of the shard's best ready tasks with leases of `claim.leaseMillis`.
    static func enqueue(
        _ queue: ExecutorQueue, keys: Keys, ending: [String], ready: [TreeOutputs.Ready],
        claim: (count: Int, now: Int64, leaseMillis: Int)? = nil
    ) -> RedisScriptCall {
        var arguments = [String(ending.count), String(claim?.count ?? 0), String(claim?.now ?? 0), String(claim?.leaseMillis ?? 0)] + ending
        arguments.reserveCapacity(arguments.count + ready.count * 4)
        for item in ready {
            arguments.append(String(item.priority))
            arguments.append(item.userID)
            arguments.append(item.concurrencyKey)
            arguments.append(Keys.member(tree: item.treeID, task: item.taskID))
        }
        return call(.enqueue, queue, keys, arguments)
    }

    /// Publishes an executor type's limits and the users' fairness weights to a queue shard.
    static func admitQueue(_ queue: ExecutorQueue, keys: Keys, admission: QueueAdmission) -> RedisScriptCall {
        func text(_ value: Int?) -> String { value.map(String.init) ?? "" }
        func text(_ value: Double?) -> String { value.map { String($0) } ?? "" }
        var arguments: [String] = [text(admission.maxRunning), text(admission.maxRunningPerKey)]
        arguments += [text(admission.rateLimit?.emissionMillis), text(admission.rateLimit?.burst)]
        arguments += [text(admission.rateLimitPerKey?.emissionMillis), text(admission.rateLimitPerKey?.burst)]
        for (user, weight) in admission.weights.sorted(by: { $0.key < $1.key }) {
            arguments.append(user)
            arguments.append(String(weight))
        }
        return call(.admitQueue, queue, keys, arguments)
    }

    /// Moves up to `limit` due retries of a queue shard to its ready set.
    static func promoteDelayed(_ queue: ExecutorQueue, keys: Keys, now: Int64, limit: Int) -> RedisScriptCall {
        call(.promoteDelayed, queue, keys, [String(now), String(limit)])
    }

    /// Takes up to `limit` expired leases of a queue shard, holding each `holdMillis` longer.
    static func reapLeases(_ queue: ExecutorQueue, keys: Keys, now: Int64, limit: Int, holdMillis: Int) -> RedisScriptCall {
        call(.reapLeases, queue, keys, [String(now), String(limit), String(holdMillis)])
    }

    /// Keeps cancel requests for the attempts (member, attempt) still leased, and publishes each on
    /// the shard's cancel channel when `publish` is set.
    static func requestCancel(
        _ queue: ExecutorQueue, keys: Keys, publish: Bool, attempts: [(member: String, attempt: String)]
    ) -> RedisScriptCall {
        call(.requestCancel, queue, keys, [publish ? keys.cancelChannel(queue) : ""] + attempts.flatMap { [$0.member, $0.attempt] })
    }

    /// Reserves (`reserveIDs`) or releases (`releaseIDs`) task ids of one index bucket for a tree.
    static func ids(_ script: IndexScript, bucket: Int, keys: Keys, tree treeID: String, token: String, ids: [String]) -> RedisScriptCall {
        RedisScriptCall(script.script, keys: script.keys(keys, bucket: bucket), arguments: [treeID, token] + ids)
    }

    /// A script over the record of a tree.
    static func treeRecord(_ script: TreeRecordScript, tree treeID: String, keys: Keys, arguments: [String]) -> RedisScriptCall {
        RedisScriptCall(script.script, keys: script.keys(keys, tree: treeID), arguments: arguments)
    }

    private static func call(_ script: QueueScript, _ queue: ExecutorQueue, _ keys: Keys, _ arguments: [String]) -> RedisScriptCall {
        RedisScriptCall(script.script, keys: script.keys(keys, queue: queue), arguments: arguments)
    }
}
