import BatonCore
import BatonStore
import Foundation
import RedisClient
import Testing

/// Crashes, several schedulers, bad input on the bus and graceful shutdown.
@Suite("Robustness")
struct RobustnessTests {
    /// An agent killed with SIGKILL in the middle of a 3 s task: once its lease expires the
    /// task goes back to the queue (not counted as a failed attempt), another agent runs it
    /// again from the start, and the tree completes with attempt 2.
    @Test func killedAgentsTaskRunsAgain() async throws {
        try await withDeployment(
            agents: [], environment: ["BATON_AGENT_LEASE_S": "3", "BATON_AGENT_HEARTBEAT_INTERVAL_S": "0.3"]
        ) { d in
            let victim = try d.startAgent(AgentSpec(executors: ["sleep_executor"], concurrency: 1))
            // 6 s: long enough that a loaded machine still kills the agent mid-task.
            let submitted = try await d.submit(#"[{"id": "long", "name": "long", "executor": "sleep_executor", "inputs": {"seconds": 6}}]"#)
            try await d.waitUntil("the first agent runs the task") {
                try await d.store.task("long", userID: nil).status == .inProgress
            }
            try d.startAgent(AgentSpec(executors: ["sleep_executor"], concurrency: 1))
            // Outlive the first lease (3 s): heartbeats must keep it while the first agent lives.
            // (A 1.5 s lease expired under a live agent when the suite's load on 2 cores starved
            // every process for seconds: 4 s passed there between the task's creation and start.)
            try await Task.sleep(for: .milliseconds(3_300))
            #expect(try await d.store.task("long", userID: nil).attempt == 1, "the lease expired under a live agent")
            let killedAt = nowMillis()
            victim.signal(SIGKILL)
            try await d.waitUntil("the killed agent is gone", timeout: .seconds(5)) { !victim.isRunning }

            let tree = try await d.waitForTree(submitted.treeID, timeout: .seconds(25))
            let events = try await d.events(submitted.treeID)
            let context = "\(tree.summary)\n\(events.summary)"
            #expect(tree.tree.status == "completed", "\(context)\n\(d.diagnostics())")
            let task = try tree.requireTask("long")
            #expect(task.attempt == 2, "\(context)")
            #expect(task.leaseLosses == 1, "\(context)")
            #expect(try #require(task.result?["slept_s"]?.doubleValue) >= 6, "the second run slept the whole 6 s")
            #expect(events.of("task_started", task: "long").map { $0["attempt"] } == ["1", "2"], "\(context)")
            let requeued = events.of("task_requeued", task: "long")
            #expect(requeued.count == 1, "\(context)")
            #expect(requeued.first?["reason"] == "lease expired", "\(context)")
            // The lease held until the agent died (heartbeats work) and expired afterwards.
            #expect(try timestamp(requeued.first) >= killedAt, "requeued before the agent was killed\n\(context)")
            #expect(try timestamp(events.of("task_started", task: "long").last) >= (try timestamp(requeued.first)))
            #expect(events.of("task_failed").isEmpty, "\(context)")
            expectConsistentEvents(events, tree)
        }
    }

    /// Two schedulers share the bus: 200 independent tasks and a fan-in over all of them
    /// complete, every task ran once and every transition was applied once.
    @Test func twoSchedulersApplyEverythingOnce() async throws {
        try await withDeployment(
            schedulers: 2,
            agents: [AgentSpec(executors: ["echo_executor", "aggregate_results_executor"], concurrency: 8),
                     AgentSpec(executors: ["echo_executor", "aggregate_results_executor"], concurrency: 8)],
            environment: steadyLeases
        ) { d in
            let ids = (0..<200).map { String(format: "t%03d", $0) }
            let dependencies = ids.map { #"{"id": "\#($0)", "required": true}"# }.joined(separator: ",")
            let producers = ids.enumerated().map { index, id in
                #"{"id": "\#(id)", "name": "\#(id)", "executor": "echo_executor", "parent_id": "fanin", "inputs": {"ret": \#(index)}}"#
            }
            let fanIn = #"{"id": "fanin", "name": "fanin", "executor": "aggregate_results_executor", "dependencies": [\#(dependencies)]}"#
            let submitted = try await d.submit("[\(([fanIn] + producers).joined(separator: ","))]")
            let tree = try await d.waitForTree(submitted.treeID, timeout: .seconds(40))
            let events = try await d.events(submitted.treeID)
            #expect(tree.tree.status == "completed", "\(tree.tree.counts)\n\(d.diagnostics())")
            #expect(tree.tasks.count == 201)
            #expect(tree.tree.counts["completed"] == 201, "counters: \(tree.tree.counts)")
            #expect(tree.tree.counts["in_progress"] == 0 && tree.tree.counts["pending"] == 0, "counters: \(tree.tree.counts)")
            let ranTwice = tree.tasks.filter { $0.attempt != 1 }.map(\.id)
            #expect(ranTwice.isEmpty, "tasks with attempt ≠ 1: \(ranTwice)")
            for type in ["task_created", "task_started", "task_completed"] {
                var perTask: [String: Int] = [:]
                for event in events.of(type) { perTask[event["task_id"] ?? "", default: 0] += 1 }
                #expect(perTask.count == 201 && perTask.values.allSatisfy { $0 == 1 },
                        "\(type) not exactly once per task: \(perTask.filter { $0.value != 1 })")
            }
            #expect(events.of("tree_finished").count == 1)
            let expected = JSONValue.object(Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, JSONValue.int($0)) }))
            #expect(try tree.requireTask("fanin").result == expected)
            try expectRanAfter("fanin", "t199", in: tree, events: events)

            // Both schedulers joined the consumer group and are still alive.
            let consumers = try await d.store.redis.send("XINFO", "CONSUMERS", d.store.keys.submissions, Keys.schedulerGroup)
            #expect(consumers.array?.count == 2, "consumers: \(consumers)")
            #expect(d.processes.filter { $0.name.hasPrefix("baton-scheduler") && $0.isRunning }.count == 2)
        }
    }

    /// Malformed Redis-native submissions (no JSON, a dependency cycle, no `tasks` field, and
    /// one without a request id) are answered with a clear error and store nothing; a good
    /// submission on the same stream afterwards still runs.
    @Test func malformedNativeSubmission() async throws {
        try await withDeployment { d in
            let waiter = d.store.redis.makeBlockingConnection(name: "e2e-reply-waiter")
            defer { waiter.close() }
            func submitNative(_ fields: [String]) async throws -> String {
                try #require(try await d.store.redis.send(RedisCommand(["XADD", d.store.keys.submissions, "*"] + fields)).string)
            }
            func reply(_ requestID: String) async throws -> JSONValue {
                let answer = try await waiter.send(
                    RedisCommand("BLPOP", d.store.keys.submissionReply(requestID), "15"), timeout: .seconds(20))
                let text = try #require(answer.array?.last?.string, "no reply for \(requestID)\n\(d.diagnostics())")
                return try JSONValue(parsing: text)
            }

            _ = try await submitNative(["request_id", "bad-json", "tasks", "[{\"name\": \"x\", "])
            let badJSON = try await reply("bad-json")
            #expect(badJSON["ok"] == false, "\(badJSON)")
            #expect(badJSON["request_id"] == "bad-json")
            #expect(badJSON["error"]?["code"] == "invalid_argument", "\(badJSON)")
            #expect(badJSON["error"]?["message"]?.stringValue?.isEmpty == false, "\(badJSON)")

            let cycle = """
                [{"id": "x", "name": "x", "executor": "echo_executor", "dependencies": ["y"]},
                 {"id": "y", "name": "y", "executor": "echo_executor", "dependencies": ["x"]}]
                """
            _ = try await submitNative(["request_id", "cycle", "user_id", "alice", "tasks", cycle])
            let cyclic = try await reply("cycle")
            #expect(cyclic["ok"] == false, "\(cyclic)")
            #expect(cyclic["error"]?["code"] == "validation_failed", "\(cyclic)")
            let message = cyclic["error"]?["message"]?.stringValue ?? ""
            #expect(message.hasPrefix("Circular dependency detected involving task '"), "\(cyclic)")
            #expect(message.contains("'x'") || message.contains("'y'"), "\(cyclic)")

            _ = try await submitNative(["request_id", "no-tasks", "task", "[]"])
            let noTasks = try await reply("no-tasks")
            #expect(noTasks["ok"] == false)
            // `task` is not a field of an entry: refused by name (as the gateway refuses unknown fields).
            #expect(noTasks["error"]?["field"] == "task", "\(noTasks)")

            // Without a request id the answer is only on the results stream.
            let anonymous = try await submitNative(["tasks", "{not json"])

            let good = """
                [{"id": "ok-root", "name": "ok-root", "executor": "echo_executor", "inputs": {"ret": "fine"}},
                 {"id": "ok-child", "name": "ok-child", "executor": "echo_executor", "parent_id": "ok-root", "dependencies": ["ok-root"]}]
                """
            _ = try await submitNative(["request_id", "good", "user_id", "alice", "tasks", good])
            let accepted = try await reply("good")
            #expect(accepted["ok"] == true, "\(accepted)\n\(d.diagnostics())")
            #expect(accepted["tree_id"] == "ok-root")
            #expect(accepted["task_ids"] == ["ok-root", "ok-child"])
            let tree = try await d.waitForTree("ok-root")
            #expect(tree.tree.status == "completed", "\(tree.summary)")
            #expect(tree.tree.userID == "alice")
            #expect(try tree.requireTask("ok-child").inputs == ["ok-root": "fine"])

            // Nothing of the refused submissions was stored.
            for id in ["x", "y"] {
                await #expect(throws: BatonError.self) { try await d.store.task(id, userID: nil) }
            }
            // Every entry was answered on the results stream, the anonymous one included.
            let results = try await d.store.redis.send("XRANGE", d.store.keys.submissionResults, "-", "+")
            var answers: [String: JSONValue] = [:]
            for entry in results.array ?? [] {
                let fields = (entry.array?.last?.array ?? []).map { $0.string ?? "" }
                let pairs = Dictionary(stride(from: 0, to: fields.count - 1, by: 2).map { (fields[$0], fields[$0 + 1]) }) { $1 }
                if let id = pairs["entry_id"], let text = pairs["reply"] { answers[id] = try JSONValue(parsing: text) }
            }
            #expect(answers.count == 5, "\(answers)")
            #expect(answers[anonymous]?["ok"] == false, "\(answers)")
            #expect(answers[anonymous]?["request_id"] == .null, "\(answers)")
            #expect(d.processes.allSatisfy { $0.isRunning }, "a process died\n\(d.diagnostics())")
        }
    }

    /// SIGTERM to an agent running a 1 s task with a 2 s grace period: it stops claiming,
    /// finishes the task (attempt 1, nothing handed back) and exits.
    @Test func gracefulShutdownFinishesRunningTask() async throws {
        try await withDeployment(agents: [], environment: steadyLeases.merging(["BATON_AGENT_SHUTDOWN_GRACE_S": "6"]) { $1 }) { d in
            let agent = try d.startAgent(AgentSpec(executors: ["sleep_executor"], concurrency: 2))
            // 3 s: the test must see it in progress before it ends, even on a loaded machine.
            let first = try await d.submit(#"[{"id": "short", "name": "short", "executor": "sleep_executor", "inputs": {"seconds": 3}}]"#)
            try await d.waitUntil("the agent runs the task") {
                try await d.store.task("short", userID: nil).status == .inProgress
            }
            agent.signal(SIGTERM)
            // Once it says it is draining it must not claim anything new.
            try await d.waitUntil("the agent drains", timeout: .seconds(5)) {
                ((try? String(contentsOfFile: agent.logPath, encoding: .utf8)) ?? "").contains("waiting for running tasks")
            }
            let second = try await d.submit(#"[{"id": "later", "name": "later", "executor": "sleep_executor", "inputs": {"seconds": 0.1}}]"#)

            let tree = try await d.waitForTree(first.treeID, timeout: .seconds(10))
            let events = try await d.events(first.treeID)
            #expect(tree.tree.status == "completed", "\(tree.summary)\n\(d.diagnostics())")
            let task = try tree.requireTask("short")
            #expect(task.attempt == 1)
            #expect(try #require(task.result?["slept_s"]?.doubleValue) >= 3)
            #expect(events.of("task_requeued").isEmpty, "\(events.summary)")
            expectConsistentEvents(events, tree)
            try await d.waitUntil("the agent exits", timeout: .seconds(5)) { !agent.isRunning }
            let exitedAt = nowMillis()

            // The task submitted while it drained waited for another agent.
            #expect(try await d.store.task("later", userID: nil).status == .pending)
            try d.startAgent(AgentSpec(executors: ["sleep_executor"], concurrency: 1))
            let laterTree = try await d.waitForTree(second.treeID)
            let later = try laterTree.requireTask("later")
            #expect(later.status == .completed)
            #expect(later.attempt == 1, "the draining agent claimed it: \(laterTree.summary)")
            #expect(try later.startedMillis() >= exitedAt)
        }
    }

    /// SIGTERM to an agent running a 5 s task with a 0.5 s grace period: the task is handed
    /// back at once (`task_requeued`, long before its lease would expire) and another agent
    /// runs it to completion.
    @Test func gracefulShutdownHandsBackUnfinishedTask() async throws {
        try await withDeployment(agents: [], environment: steadyLeases) { d in
            let stopping = try d.startAgent(AgentSpec(
                executors: ["sleep_executor"], concurrency: 1, environment: ["BATON_AGENT_SHUTDOWN_GRACE_S": "0.5"]))
            let submitted = try await d.submit(#"[{"id": "long", "name": "long", "executor": "sleep_executor", "inputs": {"seconds": 5}}]"#)
            try await d.waitUntil("the first agent runs the task") {
                try await d.store.task("long", userID: nil).status == .inProgress
            }
            try d.startAgent(AgentSpec(executors: ["sleep_executor"], concurrency: 1))
            let stoppedAt = nowMillis()
            stopping.signal(SIGTERM)
            try await d.waitUntil("the stopping agent exits", timeout: .seconds(5)) { !stopping.isRunning }

            let tree = try await d.waitForTree(submitted.treeID)
            let events = try await d.events(submitted.treeID)
            let context = "\(tree.summary)\n\(events.summary)"
            #expect(tree.tree.status == "completed", "\(context)\n\(d.diagnostics())")
            let task = try tree.requireTask("long")
            #expect(task.attempt == 2, "\(context)")
            #expect(task.leaseLosses == 0, "a hand-back is not a lost lease\n\(context)")
            #expect(try #require(task.result?["slept_s"]?.doubleValue) >= 5)
            let requeued = events.of("task_requeued", task: "long")
            #expect(requeued.count == 1, "\(context)")
            #expect(requeued.first?["reason"] == "handed back by a stopping agent", "\(context)")
            // Handed back after the grace period, long before the 10 s lease could expire.
            let handedBack = try timestamp(requeued.first) - stoppedAt
            #expect(handedBack >= 400 && handedBack < 5_000, "handed back \(handedBack) ms after SIGTERM\n\(context)")
            expectConsistentEvents(events, tree)
        }
    }
}
