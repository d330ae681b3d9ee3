import BatonStore
import Foundation
import RedisClient

/// Memory over many submit → finish → expire cycles (issue 9, retention): trees submitted with a
/// 1 s retention, a scheduler and two agents; each cycle submits 100 trees of 20 tasks, waits until they
/// finished and the retention sweep deleted them, then reads Redis' `used_memory` and counts
/// the namespace's keys. Flat means nothing Baton writes outlives its tree.
struct SoakWorkload: Workload {
    let name = "soak"
    let summary = "Redis memory over 30 submit/finish/expire cycles of 2,000 tasks"
    let cycles = 30
    let treesPerCycle = 100
    let tasksPerTree = 20

    func run(_ context: BenchContext) async throws -> BenchReport {
        let rig = try await EngineRig.start(context)
        // The retention is the submitter's: this store's trees expire 1 s after they finish.
        let submitter = BatonStore(redis: rig.store.redis, keys: rig.store.keys, retentionMillis: 1_000)
        do {
            var memory: [Double] = []
            var keyCounts: [Int] = []
            let start = ContinuousClock.now
            for cycle in 1...cycles {
                let prefix = BenchTrees.prefix()
                var treeIDs: [String] = []
                for tree in 0..<treesPerCycle {
                    let root = "\(prefix)-\(tree)-0"
                    let tasks = [BenchTrees.task(root)] + (1..<tasksPerTree).map {
                        BenchTrees.task("\(prefix)-\(tree)-\($0)", dependsOn: [root], parent: root)
                    }
                    treeIDs.append(try await submitter.submit(try BenchTrees.submissions(tasks), userID: "soak").treeID)
                }
                _ = try await rig.waitForTrees(treeIDs)
                try await waitUntilDeleted(treeIDs, rig)
                let stats = try await rig.redisStats()
                memory.append(stats.usedMemory)
                keyCounts.append(try await countKeys(rig))
                BenchLog.info("  cycle \(cycle)/\(cycles): used_memory \(Int(stats.usedMemory)) B, \(keyCounts.last ?? 0) keys in the namespace")
            }
            let wall = (ContinuousClock.now - start) / .seconds(1)
            var report = BenchReport(workload: name)
            report.tasks = cycles * treesPerCycle * tasksPerTree
            report.wallSeconds = wall
            report.tasksPerSecond = Double(report.tasks ?? 0) / wall
            // The first cycles warm up allocator and scripts; growth is judged from cycle 5 on.
            let settled = Array(memory.dropFirst(min(4, memory.count - 1)))
            report.extra = [
                ("cycles", Double(cycles)),
                ("used_memory_after_first_cycle", memory.first),
                ("used_memory_after_cycle_5", settled.first),
                ("used_memory_after_last_cycle", memory.last),
                ("used_memory_max_after_cycle_5", settled.max()),
                ("growth_bytes_per_cycle_after_5", settled.count > 1 ? ((settled.last ?? 0) - (settled.first ?? 0)) / Double(settled.count - 1) : nil),
                ("namespace_keys_after_last_cycle", keyCounts.last.map(Double.init)),
            ]
            await rig.stop()
            return report
        } catch {
            await rig.stop()
            throw error
        }
    }

    /// Waits until the retention sweep deleted every tree record.
    private func waitUntilDeleted(_ treeIDs: [String], _ rig: EngineRig) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while true {
            let replies = try await rig.store.redis.pipeline(treeIDs.map { RedisCommand("EXISTS", rig.store.keys.tree($0)) })
            if replies.allSatisfy({ $0.int == 0 }) { return }
            if ContinuousClock.now > deadline { throw BenchError("finished trees were not deleted within 120 s") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Keys of the rig's namespace (queues, streams, indexes: whatever outlived the trees).
    private func countKeys(_ rig: EngineRig) async throws -> Int {
        var count = 0
        var cursor = "0"
        repeat {
            let reply = try await rig.store.redis.send("SCAN", cursor, "MATCH", "\(rig.namespace):*", "COUNT", "10000")
            cursor = reply.array?.first?.string ?? "0"
            count += reply.array?.last?.array?.count ?? 0
        } while cursor != "0"
        return count
    }
}
