import BatonCore
import BatonStore
import Foundation
import Testing

/// Issue 10, item 5, with real processes: a hot executor type over `executors.<type>.queue_shards`
/// queues (on a cluster they sit on different masters), agents claiming from every shard.
@Suite("Queue shards")
struct QueueShardEndToEndTests {
    static let sharded = ["BATON_EXECUTORS_QUEUE_SHARDS": "echo_executor=4"]

    /// 200 tasks queued while no agent runs land on all four shards; two agents run each once,
    /// and the tree's results merge as on one queue.
    @Test func agentsRunEveryShardOfAType() async throws {
        try await withDeployment(agents: [], environment: Self.sharded) { d in
            let count = 200
            let leaves = (0..<count).map {
                #"{"id": "leaf-\#($0)", "name": "leaf-\#($0)", "executor": "echo_executor", "parent_id": "sum", "inputs": {"ret": \#($0)}}"#
            }
            let dependencies = (0..<count).map { #""leaf-\#($0)""# }.joined(separator: ",")
            let body = "[" + leaves.joined(separator: ",")
                + #", {"id": "sum", "name": "sum", "executor": "aggregate_results_executor", "dependencies": [\#(dependencies)]}]"#
            let submitted = try await d.submit(body)
            try await d.waitUntil("all leaves queued") {
                var queued = 0
                for queue in d.store.keys.queues(of: "echo_executor") {
                    queued += try await d.store.redis.send("ZCARD", d.store.keys.ready(queue)).int ?? 0
                }
                return queued == count
            }
            for queue in d.store.keys.queues(of: "echo_executor") {
                let queued = try await d.store.redis.send("ZCARD", d.store.keys.ready(queue)).int ?? 0
                #expect(queued > 20, "shard \(queue.shard) holds \(queued) of \(count)")
            }
            try d.startAgent(AgentSpec(concurrency: 8))
            try d.startAgent(AgentSpec(concurrency: 8))
            let tree = try await d.waitForTree(submitted.treeID, timeout: .seconds(60))
            #expect(tree.tree.status == "completed", "\(tree.summary)\n\(d.diagnostics())")
            let events = try await d.events(submitted.treeID)
            #expect(events.startOrder.count == count + 1, "every task started once")
            #expect(Set(events.startOrder).count == count + 1)
            let sum = try tree.requireTask("sum")
            #expect(sum.result?.objectValue?.count == count, "the aggregate got every leaf's result")
            expectConsistentEvents(events, tree)
        }
    }

    /// A service configured with another shard count than the namespace runs with stops at once,
    /// naming the setting: it would queue tasks where no agent claims them.
    @Test func aServiceWithAnotherShardCountRefusesToStart() async throws {
        try await withDeployment(agents: [AgentSpec(executors: ["echo_executor"], concurrency: 1)], environment: Self.sharded) { d in
            try await d.waitUntil("the counts are recorded") {
                try await d.store.redis.send("HGET", d.store.keys.queueShardCounts, "echo_executor").string == "4"
            }
            let other = try d.startAgent(AgentSpec(executors: ["echo_executor"], concurrency: 1,
                                                   environment: ["BATON_EXECUTORS_QUEUE_SHARDS": "echo_executor=2"]))
            try await d.waitUntil("the agent with 2 shards exits", timeout: .seconds(15)) { !other.isRunning }
            let log = (try? String(contentsOfFile: other.logPath, encoding: .utf8)) ?? ""
            #expect(log.contains("executors.echo_executor.queue_shards is 2 here"), "\(log)")
            // The deployment itself still runs work.
            let submitted = try await d.submit(#"[{"id": "one", "name": "one", "executor": "echo_executor"}]"#)
            #expect(try await d.waitForTree(submitted.treeID).tree.status == "completed")
        }
    }
}
