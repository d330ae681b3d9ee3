import BatonCore
import BatonStore
import Foundation
import RedisClient
import Synchronization

/// Builds task arrays for the engine workloads (echo_executor: a no-op that returns its inputs).
enum BenchTrees {
    static func task(_ id: String, dependsOn dependencies: [String] = [], parent: String? = nil, key: String? = nil) -> JSONValue {
        var object: [String: JSONValue] = ["id": .string(id), "name": .string(id), "executor": "echo_executor"]
        if let key { object["concurrency_key"] = .string(key) }
        if !dependencies.isEmpty { object["dependencies"] = .array(dependencies.map(JSONValue.string)) }
        if let parent { object["parent_id"] = .string(parent) }
        return .object(object)
    }

    static func submissions(_ tasks: [JSONValue]) throws -> [TaskSubmission] {
        try TaskSubmission.decode(array: .array(tasks))
    }

    static func prefix() -> String { String(UUID().uuidString.prefix(8).lowercased()) }
}

/// Runs one engine measurement: start processes, snapshot INFO, run, snapshot INFO, stop.
/// `agents`, `concurrency` and the one scheduler are the workload's defaults; `--agents`,
/// `--concurrency` and `--schedulers` override them. The report's `stall_ms` is the longest a
/// probe client's `PING` waited meanwhile (``StallProbe``).
func measureEngine(
    _ context: BenchContext, workload: String, tasks: Int, agents: Int = 2, concurrency: Int = 64,
    _ body: (EngineRig) async throws -> (wall: Double, ownCommands: Int, configure: (inout BenchReport) -> Void)
) async throws -> BenchReport {
    let rig = try await EngineRig.start(
        context, agents: context.agents ?? agents, concurrency: context.concurrency ?? concurrency,
        schedulers: context.schedulers ?? 1)
    do {
        let before = try await rig.redisStats()
        try await rig.startSlowLog()
        let probe = try StallProbe(url: context.redisURL)
        let outcome: (wall: Double, ownCommands: Int, configure: (inout BenchReport) -> Void)
        do {
            outcome = try await body(rig)
        } catch {
            _ = await probe.stop()
            throw error
        }
        let stall = await probe.stop()
        let longest = try await rig.longestCommand()
        let after = try await rig.redisStats()
        var report = BenchReport(workload: workload)
        report.extra.append(("stall_ms", stall))
        report.extra.append(("longest_command_ms", longest.milliseconds))
        report.notes.append(("longest_command", longest.command))
        report.tasks = tasks
        report.wallSeconds = outcome.wall
        report.tasksPerSecond = Double(tasks) / outcome.wall
        report.redisFigures(before: before, after: after, tasks: tasks, ownCommands: outcome.ownCommands + 2 * max(1, before.byNode.count))
        outcome.configure(&report)
        await rig.stop()
        return report
    } catch {
        await rig.stop()
        throw error
    }
}

/// The admission of `--admission`: a per-key limit over the workload's 100 keys, weighted users.
enum BenchAdmission {
    static let perKey = 8
    static let weights = ["bench-u0": 3, "bench-u1": 2]
}

/// 10,000 independent no-op tasks (10 trees of 1,000), submitted at once, run to the end. With
/// `--admission` the tasks (over 100 concurrency keys, the trees of 5 users) run under a per-key
/// limit of 8 and fairness weights 3:2:1:1:1 (compare with the plain run: one user, no keys).
struct ThroughputWorkload: Workload {
    let name = "throughput"
    let summary = "10,000 independent no-op tasks end to end"

    func run(_ context: BenchContext) async throws -> BenchReport {
        try await measureEngine(context, workload: name, tasks: 10_000) { rig in
            let prefix = BenchTrees.prefix()
            let keyed = context.admission
            let trees = try (0..<10).map { tree in
                try BenchTrees.submissions((0..<1000).map {
                    BenchTrees.task("\(prefix)-\(tree)-\($0)", key: keyed ? "k\($0 % 100)" : nil)
                })
            }
            if context.admission {
                try await rig.store.publishAdmission(["echo_executor": QueueAdmission(
                    maxRunningPerKey: BenchAdmission.perKey, weights: BenchAdmission.weights)])
            }
            let start = ContinuousClock.now
            let ids = try await withThrowingTaskGroup(of: String.self) { group in
                for (index, tree) in trees.enumerated() {
                    let user = context.admission ? "bench-u\(index % 5)" : "bench"
                    group.addTask { try await rig.store.submit(tree, userID: user).treeID }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let own = try await rig.waitForTrees(ids)
            let wall = (ContinuousClock.now - start).seconds
            return (wall, own, { $0.perStepMilliseconds = nil })
        }
    }
}

/// 500 trees of one parent waiting for 10 children.
struct FanInWorkload: Workload {
    let name = "fanin"
    let summary = "500 trees of one parent waiting for 10 children"

    func run(_ context: BenchContext) async throws -> BenchReport {
        try await measureEngine(context, workload: name, tasks: 500 * 11) { rig in
            let prefix = BenchTrees.prefix()
            let trees = try (0..<500).map { tree -> [TaskSubmission] in
                let children = (0..<10).map { "\(prefix)-\(tree)-c\($0)" }
                let parent = BenchTrees.task("\(prefix)-\(tree)-p", dependsOn: children)
                return try BenchTrees.submissions([parent] + children.map { BenchTrees.task($0, parent: "\(prefix)-\(tree)-p") })
            }
            let start = ContinuousClock.now
            var ids: [String] = []
            for batch in stride(from: 0, to: trees.count, by: 50) {
                ids += try await withThrowingTaskGroup(of: String.self) { group in
                    for tree in trees[batch..<min(batch + 50, trees.count)] {
                        group.addTask { try await rig.store.submit(tree, userID: "bench").treeID }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
            }
            let own = try await rig.waitForTrees(ids)
            return ((ContinuousClock.now - start).seconds, own, { _ in })
        }
    }
}

/// One root and 1,000 children that depend on it: all released by one completion.
struct FanOutWorkload: Workload {
    let name = "fanout"
    let summary = "one root, 1,000 children that depend on it"

    func run(_ context: BenchContext) async throws -> BenchReport {
        try await measureEngine(context, workload: name, tasks: 1001) { rig in
            let prefix = BenchTrees.prefix()
            let root = "\(prefix)-root"
            let tree = try BenchTrees.submissions(
                [BenchTrees.task(root)] + (0..<1000).map { BenchTrees.task("\(prefix)-\($0)", dependsOn: [root], parent: root) })
            let start = ContinuousClock.now
            let id = try await rig.store.submit(tree, userID: "bench").treeID
            let own = try await rig.waitForTrees([id])
            return ((ContinuousClock.now - start).seconds, own, { _ in })
        }
    }
}

/// A chain of 200 steps: each task depends on the previous one. Per step = Redis-side
/// (finished_at − created_at) / 200.
struct ChainWorkload: Workload {
    let name = "chain"
    let summary = "a chain of 200 steps"

    func run(_ context: BenchContext) async throws -> BenchReport {
        try await measureEngine(context, workload: name, tasks: 200, agents: 1, concurrency: 8) { rig in
            let prefix = BenchTrees.prefix()
            let steps = (0..<200).map { BenchTrees.task("\(prefix)-\($0)", dependsOn: $0 == 0 ? [] : ["\(prefix)-\($0 - 1)"]) }
            let start = ContinuousClock.now
            let id = try await rig.store.submit(try BenchTrees.submissions(steps), userID: "bench").treeID
            let own = try await rig.waitForTrees([id])
            let wall = (ContinuousClock.now - start).seconds
            let tree = try await rig.store.tree(id, userID: nil)
            let started = tree.tasks.compactMap { $0.startedAt.flatMap(Timestamp.millis(rfc3339:)) }.sorted()
            let completed = tree.tasks.compactMap { $0.completedAt.flatMap(Timestamp.millis(rfc3339:)) }.sorted()
            let span = Double((completed.last ?? 0) - (started.first ?? 0))
            return (wall, own, { $0.perStepMilliseconds = span / 199 })
        }
    }
}

/// One task every 10 ms for 500 tasks: submit → start as a streaming client sees it (the
/// second pub/sub nudge of the task's tree is its start).
struct LatencyWorkload: Workload {
    let name = "latency"
    let summary = "one task every 10 ms for 500 tasks: submit→start p50/p99"

    func run(_ context: BenchContext) async throws -> BenchReport {
        try await measureEngine(context, workload: name, tasks: 500, agents: 1, concurrency: 8) { rig in
            // A tree's nudges go to its shard channel: subscribe to each tree before submitting it.
            let subscriber = rig.store.redis.makeShardedSubscriber(name: "baton-bench-latency")
            defer { subscriber.close() }
            let nudges = Mutex<[String: Int]>([:])
            let started = Mutex<[String: ContinuousClock.Instant]>([:])
            let listener = Task {
                for await event in subscriber.events {
                    guard case .message(let message) = event else { continue }
                    let now = ContinuousClock.now
                    guard let tree = rig.store.keys.treeID(ofChannel: message.channel) else { continue }
                    let count = nudges.withLock { counts -> Int in
                        counts[tree, default: 0] += 1
                        return counts[tree]!
                    }
                    if count == 2 { started.withLock { $0[tree] = now } }
                }
            }
            let prefix = BenchTrees.prefix()
            var submittedAt: [String: ContinuousClock.Instant] = [:]
            let begin = ContinuousClock.now
            for index in 0..<500 {
                let id = "\(prefix)-\(index)"
                let tree = try BenchTrees.submissions([BenchTrees.task(id)])
                try await subscriber.ssubscribe([rig.store.keys.treeChannel(id)])
                submittedAt[id] = ContinuousClock.now
                _ = try await rig.store.submit(tree, userID: "bench")
                try await Task.sleep(until: begin + .milliseconds(10 * (index + 1)))
            }
            let own = try await rig.waitForTrees(Array(submittedAt.keys))
            let wall = (ContinuousClock.now - begin).seconds
            try await Task.sleep(for: .milliseconds(50))
            listener.cancel()
            let starts = started.withLock { $0 }
            let latencies = submittedAt.compactMap { id, at in starts[id].map { ($0 - at).milliseconds } }.sorted()
            func percentile(_ p: Double) -> Double? {
                latencies.isEmpty ? nil : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]
            }
            return (wall, own, { report in
                report.p50Milliseconds = percentile(0.50)
                report.p99Milliseconds = percentile(0.99)
                report.extra.append(("max_ms", latencies.last))
                report.extra.append(("observed", Double(latencies.count)))
            })
        }
    }
}

/// One tree of 100,000 tasks (`--tasks N` for another size; a root and its children), after a
/// tree a quarter that size to show how the time per task grows; each finished tree is then
/// copied (`copy_s`, `copy_stall_ms`) and the copy cancelled (`cancel_s`, `cancel_stall_ms`;
/// the Redis figures per task include the copy and its cancellation, while
/// `retained_bytes_per_task` is the memory the finished tree holds, before its copy).
struct BigTreeWorkload: Workload {
    let name = "bigtree"
    let summary = "one tree of 100,000 tasks (--tasks N), after one of a quarter that size for the growth ratio"

    func run(_ context: BenchContext) async throws -> BenchReport {
        let size = context.tasks ?? 100_000
        let quarter = max(1, size / 4)
        let small = try await runTree(context, size: quarter)
        var report = try await runTree(context, size: size)
        let smallPerTask = (small.wallSeconds ?? 0) / Double(quarter)
        let bigPerTask = (report.wallSeconds ?? 0) / Double(size)
        report.extra.append(("wall_s_quarter", small.wallSeconds))
        report.extra.append(("growth_per_task", smallPerTask > 0 ? bigPerTask / smallPerTask : nil))
        return report
    }

    private func runTree(_ context: BenchContext, size: Int) async throws -> BenchReport {
        try await measureEngine(context, workload: name, tasks: size) { rig in
            let prefix = BenchTrees.prefix()
            let root = "\(prefix)-root"
            let tasks = [BenchTrees.task(root)] + (1..<size).map { BenchTrees.task("\(prefix)-\($0)", parent: root) }
            let submissions = try BenchTrees.submissions(tasks)
            let empty = try await rig.redisStats()
            let submitProbe = try StallProbe(url: context.redisURL)
            let start = ContinuousClock.now
            let id = try await rig.store.submit(submissions, userID: "bench").treeID
            let submitted = (ContinuousClock.now - start).seconds
            let submitStall = await submitProbe.stop()
            let own = try await rig.waitForTrees([id])
            let wall = (ContinuousClock.now - start).seconds
            let retained = (try await rig.redisStats().usedMemory - empty.usedMemory) / Double(size)
            // Copying the finished tree (stored, not started): a key-space operation as big as the submit.
            let copyProbe = try StallProbe(url: context.redisURL)
            let copyStart = ContinuousClock.now
            let copy = try await rig.store.copyTree(id, userID: nil, ownerID: "bench").treeID
            let copied = (ContinuousClock.now - copyStart).seconds
            let copyStall = await copyProbe.stop()
            // Cancelling the copy: every one of its tasks is pending.
            let cancelProbe = try StallProbe(url: context.redisURL)
            let cancelStart = ContinuousClock.now
            _ = try await rig.store.cancelTree(copy, userID: nil)
            let cancelled = (ContinuousClock.now - cancelStart).seconds
            let cancelStall = await cancelProbe.stop()
            return (wall, own, {
                $0.extra += [("submit_s", submitted), ("submit_stall_ms", submitStall), ("retained_bytes_per_task", retained),
                             ("copy_s", copied), ("copy_stall_ms", copyStall), ("cancel_s", cancelled), ("cancel_stall_ms", cancelStall)]
            })
        }
    }
}

extension Duration {
    var milliseconds: Double { seconds * 1000 }
}
