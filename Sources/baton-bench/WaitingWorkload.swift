import BatonCore
import BatonStore
import Foundation
import RedisClient

/// `waiting`: why every task of a 10,000-task tree waits (issue 11, item 1), as
/// `GET /v1/trees/{id}` computes it. One root with 9,999 children: every other child depends on
/// the one before it (`dependencies`), the rest are ready in the queue (`queued`, with their
/// rank), and one live agent record serves the type. Only the store is involved. Reports the
/// median time of the read with the reasons (`wall_s`) and of the plain read (`read_s`).
struct WaitingWorkload: Workload {
    let name = "waiting"
    let summary = "why each of a 10,000-task tree's tasks waits (the read of GET /v1/trees/{id})"

    static let size = 10_000

    func run(_ context: BenchContext) async throws -> BenchReport {
        let redis = RedisClient(configuration: try RedisConfiguration(url: context.redisURL))
        let namespace = "bench-waiting-\(BenchTrees.prefix())"
        let store = BatonStore(redis: redis, keys: Keys(namespace: namespace))
        defer { redis.close() }
        let root = "waiting-root"
        let tasks = [BenchTrees.task(root)] + (1..<Self.size).map { index in
            BenchTrees.task("waiting-\(index)", dependsOn: index % 2 == 0 ? ["waiting-\(index - 1)"] : [], parent: root)
        }
        _ = try await store.submit(try BenchTrees.submissions(tasks), userID: "bench")
        try await store.registerAgent(AgentRecord(
            id: "bench-agent", host: "bench", pid: 1, version: BatonVersion.current, executors: ["echo_executor"],
            concurrency: 8, running: 0, startedAt: store.clock(), lastSeen: store.clock()))
        var reasons: [Waiting.Reason: Int] = [:]
        let withWaiting = try await context.median("tree with waiting of \(Self.size) tasks (s)") {
            let start = ContinuousClock.now
            let (_, waiting) = try await store.treeWithWaiting(root, userID: nil)
            let elapsed = (ContinuousClock.now - start).seconds
            reasons = Dictionary(grouping: waiting.values, by: \.reason).mapValues(\.count)
            return elapsed
        }
        let plain = try await context.median("tree read of \(Self.size) tasks (s)") {
            let start = ContinuousClock.now
            _ = try await store.tree(root, userID: nil)
            return (ContinuousClock.now - start).seconds
        }
        await CopyWorkload.deleteNamespace(redis, namespace)
        var report = BenchReport(workload: name)
        report.tasks = Self.size
        report.wallSeconds = withWaiting
        report.extra.append(("read_s", plain))
        report.extra.append(("waiting_us_per_task", (withWaiting - plain) / Double(Self.size) * 1_000_000))
        report.extra.append(("queued", Double(reasons[.queued] ?? 0)))
        report.extra.append(("dependencies", Double(reasons[.dependencies] ?? 0)))
        return report
    }
}
