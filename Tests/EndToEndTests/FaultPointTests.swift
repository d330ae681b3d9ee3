import BatonCore
import BatonStore
import Foundation
import RedisClient
import Testing

/// Issue 9, item 1: a process killed (SIGKILL) at an injected point inside a sequence that
/// crosses slots or processes loses nothing — the replay or the sweep finishes the work exactly
/// once. `BATON_FAULT` arms the points in debug builds (`Sources/BatonStore/FaultPoint.swift`).
@Suite("Fault points")
struct FaultPointTests {
    static let chain = #"[{"id": "fp-a", "name": "a", "executor": "echo_executor", "inputs": {"ret": 1}}, {"id": "fp-b", "name": "b", "executor": "echo_executor", "parent_id": "fp-a", "dependencies": ["fp-a"]}]"#

    func expectEachTaskCreatedOnce(_ d: Deployment, _ treeID: String, count: Int, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let events = try await d.events(treeID)
        #expect(events.filter { $0["type"] == "task_created" }.count == count, "\(events)", sourceLocation: sourceLocation)
        #expect(events.filter { $0["type"] == "task_completed" }.count == count, "\(events)", sourceLocation: sourceLocation)
    }

    @Test func aGatewayKilledAfterStoringATreeLeavesItToTheSweep() async throws {
        try await withDeployment(environment: ["BATON_SCHEDULER_INFLIGHT_REPAIR_MS": "1000"]) { d in
            let base = try await d.startGateway(environment: ["BATON_FAULT": "submit.after-store"])
            let alice = GatewayClient(base: base, key: "alice-key")
            _ = try? await alice.post("/v1/trees", Self.chain)
            try await d.waitUntil("the gateway died at the fault point") {
                d.processes.filter { $0.name.hasPrefix("baton-gateway") }.allSatisfy { !$0.isRunning }
            }
            // Nobody retries: the scheduler's sweep finds the in-flight mark and queues the root.
            let tree = try await d.waitForTree("fp-a", timeout: .seconds(20))
            #expect(tree.tree.status == "completed", "\(tree.summary)")
            try await expectEachTaskCreatedOnce(d, "fp-a", count: 2)
            try await d.waitUntil("the mark is gone") {
                try await d.store.redis.send("EXISTS", d.store.keys.inflightSubmissions).int == 0
            }
        }
    }

    @Test func aGatewayKilledAfterReservingIsRetriedWithItsIdempotencyKey() async throws {
        try await withDeployment { d in
            let doomed = try await d.startGateway(environment: ["BATON_FAULT": "submit.after-reserve"])
            let key = ["Idempotency-Key": "fp-order-1"]
            _ = try? await GatewayClient(base: doomed, key: "alice-key").post("/v1/trees", Self.chain, headers: key)
            try await d.waitUntil("the gateway died at the fault point") {
                d.processes.filter { $0.name.hasPrefix("baton-gateway") }.allSatisfy { !$0.isRunning }
            }
            let alice = GatewayClient(base: try await d.startGateway(), key: "alice-key")
            // Without the key the retry is another submission: the ids are held by the dead one,
            // whose outcome nobody knows yet, so it is told to retry later — not "already exists".
            let other = try await alice.post("/v1/trees", Self.chain)
            #expect(other.status == 503 && other.headers["retry-after"] != nil, "\(other)")
            #expect(other.json["error"]?["code"] == "unavailable", "\(other)")
            // With the key the retry is the same submission (the claim of the dead request is
            // still pending): it completes it at once.
            let retried = try await alice.post("/v1/trees", Self.chain, headers: key)
            #expect(retried.status == 201 && retried.json["tree_id"] == "fp-a", "\(retried)")
            let tree = try await d.waitForTree("fp-a")
            #expect(tree.tree.status == "completed", "\(tree.summary)")
            try await expectEachTaskCreatedOnce(d, "fp-a", count: 2)
            // Now the tree exists: a submission without the key is refused as such.
            let again = try await alice.post("/v1/trees", Self.chain)
            #expect(again.status == 409 && again.json["error"]?["code"] == "already_exists", "\(again)")
        }
    }

    @Test(arguments: ["submit.after-reserve", "submit.after-store", "submit.after-dispatch"])
    func aSchedulerKilledInsideANativeSubmissionIsReplayedToCompletion(point: String) async throws {
        try await withDeployment(schedulers: 0) { d in
            let doomed = try d.startScheduler(environment: ["BATON_FAULT": point])
            try await d.waitUntil("the doomed scheduler joined the group") {
                let groups = try? await d.store.redis.send("XINFO", "GROUPS", d.store.keys.submissions)
                return !(groups?.array ?? []).isEmpty
            }
            let entry = try #require(try await d.store.redis.send(RedisCommand(
                ["XADD", d.store.keys.submissions, "*", "request_id", "fp", "user_id", "alice", "tasks", Self.chain])).string)
            try await d.waitUntil("the scheduler died at \(point)") { !doomed.isRunning }
            // A new scheduler (another consumer name) takes the dead one's entry over and replays it.
            try d.startScheduler()
            let waiter = d.store.redis.makeBlockingConnection(name: "e2e-fp-reply")
            defer { waiter.close() }
            let reply = try await waiter.send(RedisCommand("BLPOP", d.store.keys.submissionReply("fp"), "20"), timeout: .seconds(25))
            let answer = try JSONValue(parsing: try #require(reply.array?.last?.string, "no reply\n\(d.diagnostics())"))
            #expect(answer["ok"] == true && answer["tree_id"] == "fp-a" && answer["entry_id"] == .string(entry), "\(answer)")
            let tree = try await d.waitForTree("fp-a")
            #expect(tree.tree.status == "completed", "\(tree.summary)")
            try await expectEachTaskCreatedOnce(d, "fp-a", count: 2)
        }
    }

    /// The scheduler applies the report here: the agent only publishes (`agent.apply_reports: false`).
    @Test func aSchedulerKilledAfterApplyingAReportResumesItsOwnEntryOnRestart() async throws {
        try await withDeployment(schedulers: 0, agents: [AgentSpec(environment: ["BATON_AGENT_APPLY_REPORTS": "false"])]) { d in
            let name = ["BATON_SCHEDULER_CONSUMER_NAME": "fp-scheduler"]
            let doomed = try d.startScheduler(environment: name.merging(["BATON_FAULT": "apply.after-script"]) { $1 })
            _ = try await d.submit(Self.chain)
            // a completed, its report applied; the scheduler dies before queueing b.
            try await d.waitUntil("the scheduler died after applying a's report") { !doomed.isRunning }
            #expect(try await d.store.task("fp-a", userID: nil).status == .completed)
            #expect(try await d.store.task("fp-b", userID: nil).status == .pending)
            let started = ContinuousClock.now
            // Restarted under its own name, it reads its unacknowledged entry again at once.
            try d.startScheduler(environment: name)
            let tree = try await d.waitForTree("fp-a")
            #expect(tree.tree.status == "completed", "\(tree.summary)")
            #expect(ContinuousClock.now - started < .seconds(10), "the idle takeover (30 s) was not needed")
            try await expectEachTaskCreatedOnce(d, "fp-a", count: 2)
        }
    }

    /// An agent applies its own report, then dies before queueing what it released: the
    /// scheduler's replay of the report's bus entry queues it, and another agent runs it once.
    @Test func anAgentKilledAfterApplyingItsOwnReportLeavesTheDispatchToTheReplay() async throws {
        try await withDeployment(agents: []) { d in
            let doomed = try d.startAgent(AgentSpec(executors: ["echo_executor"], environment: ["BATON_FAULT": "agent.after-apply"]))
            _ = try await d.submit(Self.chain)
            try await d.waitUntil("the agent died after applying a's report") { !doomed.isRunning }
            #expect(try await d.store.task("fp-a", userID: nil).status == .completed)
            let started = ContinuousClock.now
            try d.startAgent(AgentSpec(executors: ["echo_executor"]))
            let tree = try await d.waitForTree("fp-a")
            #expect(tree.tree.status == "completed", "\(tree.summary)")
            #expect(ContinuousClock.now - started < .seconds(8), "b waited for a's lease to expire (10 s), not for the replay")
            try await expectEachTaskCreatedOnce(d, "fp-a", count: 2)
        }
    }
}
