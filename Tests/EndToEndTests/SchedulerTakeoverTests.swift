import BatonCore
import BatonStore
import Foundation
import RedisClient
import Testing

/// Issue 9 ("Reliability"), first step: a scheduler that dies with entries it read but never
/// acknowledged does not leave them waiting for the 30 s idle takeover — the next scheduler takes
/// them over as soon as the dead one's liveness key expired; one that looks alive keeps them.
@Suite("Scheduler takeover")
struct SchedulerTakeoverTests {
    @Test func aDeadConsumersSubmissionIsAnsweredWithinSeconds() async throws {
        try await withDeployment(schedulers: 0, agents: [AgentSpec(executors: ["echo_executor"])]) { d in
            try await d.store.createSchedulerGroup()
            let tree = #"[{"id": "orphan", "name": "orphan", "executor": "echo_executor", "inputs": {"ret": 1}}]"#
            _ = try await d.store.redis.send(RedisCommand(
                ["XADD", d.store.keys.submissions, "*", "request_id", "orphan", "user_id", "alice", "tasks", tree]))
            // A scheduler named "ghost" reads the entry and dies before acknowledging it; "zombie"
            // reads another one and still looks alive.
            let reader = d.store.redis.makeBlockingConnection(name: "e2e-ghost")
            defer { reader.close() }
            let taken = try await d.store.readBus([d.store.keys.submissions], on: reader, consumer: "ghost", count: 10, blockMillis: 100, pending: false)
            #expect(taken.count == 1)
            _ = try await d.store.redis.send(RedisCommand(
                ["XADD", d.store.keys.submissions, "*", "request_id", "kept", "user_id", "alice", "tasks",
                 #"[{"id": "kept", "name": "kept", "executor": "echo_executor"}]"#]))
            try await d.store.markSchedulerAlive("zombie", ttlMillis: 60_000)
            #expect(try await d.store.readBus([d.store.keys.submissions], on: reader, consumer: "zombie", count: 10, blockMillis: 100, pending: false).count == 1)

            let started = ContinuousClock.now
            try d.startScheduler()
            let waiter = d.store.redis.makeBlockingConnection(name: "e2e-orphan-reply")
            defer { waiter.close() }
            let reply = try await waiter.send(
                RedisCommand("BLPOP", d.store.keys.submissionReply("orphan"), "20"), timeout: .seconds(25))
            let elapsed = ContinuousClock.now - started
            let answer = try JSONValue(parsing: try #require(reply.array?.last?.string, "no reply\n\(d.diagnostics())"))
            #expect(answer["ok"] == true, "\(answer)")
            #expect(elapsed < .seconds(10), "took \(elapsed) (the idle takeover alone waits 30 s)")
            #expect(try await d.waitForTree("orphan").tree.status == "completed")

            // The dead consumer is gone from the group; the live-looking one keeps its entry.
            try await d.waitUntil("ghost removed from the group") {
                let consumers = try await d.store.redis.send("XINFO", "CONSUMERS", d.store.keys.submissions, Keys.schedulerGroup)
                let names = (consumers.array ?? []).compactMap { $0.array?.dropFirst().first?.string }
                return !names.contains("ghost") && names.contains("zombie")
            }
            #expect(try await d.store.redis.send("EXISTS", d.store.keys.submissionReply("kept")).int == 0)
        }
    }

    /// The lost tree of issue 9: the killed scheduler had reserved the ids (and even stored the
    /// tree) of an entry it never acknowledged. The replay by the next scheduler completes it —
    /// same tree, its ready tasks queued, answered `ok` — instead of answering "id taken".
    @Test(arguments: [false, true])
    func aReplayedSubmissionCompletesWhatTheDeadSchedulerBegan(treeWasStored: Bool) async throws {
        try await withDeployment(schedulers: 0, agents: [AgentSpec(executors: ["echo_executor"])]) { d in
            try await d.store.createSchedulerGroup()
            let tree = #"[{"id": "half", "name": "half", "executor": "echo_executor", "inputs": {"ret": 2}}, {"name": "next", "executor": "echo_executor", "parent_id": "half", "dependencies": ["half"]}]"#
            let entryID = try #require(try await d.store.redis.send(RedisCommand(
                ["XADD", d.store.keys.submissions, "*", "request_id", "half", "user_id", "alice", "tasks", tree])).string)
            let reader = d.store.redis.makeBlockingConnection(name: "e2e-ghost")
            defer { reader.close() }
            #expect(try await d.store.readBus([d.store.keys.submissions], on: reader, consumer: "ghost", count: 10, blockMillis: 100, pending: false).count == 1)
            // What the ghost did before it died: reserved the ids, or stored the whole tree (but
            // queued nothing and answered nothing).
            let items = try TaskSubmission.decode(data: Data(tree.utf8))
            let nextID = TaskID.deterministic(seed: entryID, position: 1)
            if treeWasStored {
                _ = try await d.store.submit(items, userID: "alice", execute: true, token: entryID)
                try await d.store.redis.send("DEL", d.store.keys.ready("echo_executor"))
            } else {
                for id in ["half", nextID] {
                    let bucket = Keys.bucket(of: id)
                    _ = try await d.store.redis.send(RedisCommand([
                        "HSET", d.store.keys.idIndex(bucket: bucket), id, "half"]))
                    _ = try await d.store.redis.send(RedisCommand([
                        "HSET", d.store.keys.idReservations(bucket: bucket), id, entryID]))
                }
            }

            try d.startScheduler()
            let waiter = d.store.redis.makeBlockingConnection(name: "e2e-half-reply")
            defer { waiter.close() }
            let reply = try await waiter.send(
                RedisCommand("BLPOP", d.store.keys.submissionReply("half"), "20"), timeout: .seconds(25))
            let answer = try JSONValue(parsing: try #require(reply.array?.last?.string, "no reply\n\(d.diagnostics())"))
            #expect(answer["ok"] == true, "\(answer)")
            #expect(answer["task_ids"] == [.string("half"), .string(nextID)], "\(answer)")
            let finished = try await d.waitForTree("half")
            #expect(finished.tree.status == "completed", "\(finished.summary)")
            #expect(try finished.requireTask(nextID).inputs == ["half": 2])
            let created = try await d.events("half").filter { $0["type"] == "task_created" }
            #expect(created.count == 2, "each task created once: \(created)")
        }
    }
}
