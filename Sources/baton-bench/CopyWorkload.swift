import BatonCore
import BatonStore
import Foundation
import RedisClient

/// `copy`: copying a 10,000-task tree (SPEC "Copy, link, archive, mixed"): one root, every other
/// task its child and dependent on the previous one, so every parent and dependency is remapped.
/// Only the store is involved (a copy is a key-space operation: nothing runs). Reports the median
/// copy time of `--rounds` copies (`wall_s`), and the same for a subtree copy of the last task,
/// which pulls in the whole chain upstream (`subtree_s`).
struct CopyWorkload: Workload {
    let name = "copy"
    let summary = "copy of a 10,000-task tree (new ids, remapped parents and dependencies)"

    static let size = 10_000

    func run(_ context: BenchContext) async throws -> BenchReport {
        let redis = RedisClient(configuration: try RedisConfiguration(url: context.redisURL))
        let namespace = "bench-copy-\(BenchTrees.prefix())"
        let store = BatonStore(redis: redis, keys: Keys(namespace: namespace))
        defer { redis.close() }
        do {
            let root = "copy-root"
            let tasks = [BenchTrees.task(root)] + (1..<Self.size).map { index in
                BenchTrees.task("copy-\(index)", dependsOn: [index == 1 ? root : "copy-\(index - 1)"], parent: root)
            }
            _ = try await store.submit(try BenchTrees.submissions(tasks), userID: "bench", execute: false)
            let whole = try await context.median("copy of \(Self.size) tasks (s)") {
                let start = ContinuousClock.now
                let copy = try await store.copyTree(root, userID: "bench", ownerID: "bench")
                guard copy.taskIDs.count == Self.size else { throw BatonError.internal("copy has \(copy.taskIDs.count) tasks") }
                return (ContinuousClock.now - start).seconds
            }
            let subtree = try await context.median("subtree copy of the last task (s)") {
                let start = ContinuousClock.now
                _ = try await store.copyTree(root, userID: "bench", ownerID: "bench", taskID: "copy-\(Self.size - 1)")
                return (ContinuousClock.now - start).seconds
            }
            await Self.deleteNamespace(redis, namespace)
            var report = BenchReport(workload: name)
            report.tasks = Self.size
            report.wallSeconds = whole
            report.tasksPerSecond = Double(Self.size) / whole
            report.extra.append(("copy_us_per_task", whole / Double(Self.size) * 1_000_000))
            report.extra.append(("subtree_s", subtree))
            return report
        } catch {
            await Self.deleteNamespace(redis, namespace)
            throw error
        }
    }

    static func deleteNamespace(_ redis: RedisClient, _ namespace: String) async {
        var cursor = "0"
        repeat {
            guard let reply = try? await redis.send("SCAN", cursor, "MATCH", "\(namespace):*", "COUNT", "1000"),
                  let parts = reply.array, parts.count == 2 else { return }
            cursor = parts[0].string ?? "0"
            let keys = (parts[1].array ?? []).compactMap(\.string)
            if !keys.isEmpty { _ = try? await redis.send(RedisCommand(["UNLINK"] + keys)) }
        } while cursor != "0"
    }
}
