import BatonCore
import BatonStore
import Foundation
import Testing

/// Issue 14: limits hold across real agents and schedulers (the queue scripts enforce what the
/// schedulers published from the configuration), rates hold, delayed trees start on time and
/// schedules fire once per due time. One test at a time: the timing ones must not share the
/// machine's two cores with the 64-slot deployment of the limit test.
@Suite("Admission", .serialized)
struct AdmissionEndToEndTests {
    /// The most intervals [start, end) open at once (an end at the same millisecond as a start
    /// comes first: the slot was freed before the next claim).
    static func mostAtOnce(_ intervals: [(Int64, Int64)]) -> Int {
        var edges: [(at: Int64, change: Int)] = []
        for (start, end) in intervals {
            edges.append((start, 1))
            edges.append((end, -1))
        }
        edges.sort { first, second in first.at != second.at ? first.at < second.at : first.change < second.change }
        var open = 0, most = 0
        for edge in edges {
            open += edge.change
            most = max(most, open)
        }
        return most
    }

    /// With 4 agents of 16 slots each, a per-type limit of 5 and a per-key limit of 2 are never
    /// exceeded (checked from the tasks' own start and end times), and the work all finishes.
    @Test func limitsHoldAcrossFourAgentsOfSixteenSlots() async throws {
        let environment = ["BATON_EXECUTORS_MAX_RUNNING": "sleep_executor=5", "BATON_EXECUTORS_MAX_RUNNING_PER_KEY": "sleep_executor=2"]
        let agents = (0..<4).map { _ in AgentSpec(executors: ["sleep_executor"], concurrency: 16) }
        try await withDeployment(agents: agents, environment: environment) { d in
            try await d.waitUntil("the scheduler published the limits") {
                let state = try await d.store.admissionState(of: "sleep_executor")
                return state.maxRunning == 5 && state.maxRunningPerKey == 2
            }
            // 40 tasks over 4 keys (10 each) and 8 without a key.
            var tasks: [String] = []
            for index in 0..<48 {
                let key = index < 40 ? #", "concurrency_key": "customer-\#(index % 4)""# : ""
                tasks.append(#"{"id": "l\#(index)", "name": "l\#(index)", "executor": "sleep_executor", "inputs": {"seconds": 0.1}\#(key)}"#)
            }
            let submitted = try await d.submit("[\(tasks.joined(separator: ","))]")
            let tree = try await d.waitForTree(submitted.treeID, timeout: .seconds(60))
            #expect(tree.tree.status == "completed", "\(tree.summary)\n\(d.diagnostics())")
            let spans = try tree.tasks.map { task in (task, try task.startedMillis(), try task.completedMillis()) }
            let overall = Self.mostAtOnce(spans.map { ($0.1, $0.2) })
            #expect(overall <= 5, "\(overall) tasks ran at once")
            #expect(overall >= 3, "the limit was never approached (\(overall)): the test shows nothing")
            for key in 0..<4 {
                let ofKey = spans.filter { $0.0.concurrencyKey == "customer-\(key)" }
                #expect(ofKey.count == 10)
                let most = Self.mostAtOnce(ofKey.map { ($0.1, $0.2) })
                #expect(most <= 2, "customer-\(key): \(most) at once")
            }
            let state = try await d.store.admissionState(of: "sleep_executor")
            #expect(state.running == 0 && state.held == 0 && state.throttledClaims > 0, "\(state)")
        }
    }

    /// A rate limit of 50 tasks per second (10 at once) holds over 10 s within ±5 %, with two
    /// agents of 16 slots: no client sleeps, the queue script admits and the agents wake when due.
    @Test func aRateLimitHoldsOverTenSeconds() async throws {
        let environment = ["BATON_EXECUTORS_RATE_LIMIT": "echo_executor=50/1/10"]
        let agents = (0..<2).map { _ in AgentSpec(executors: ["echo_executor"], concurrency: 16) }
        try await withDeployment(agents: agents, environment: environment) { d in
            try await d.waitUntil("the scheduler published the rate") {
                try await d.store.redis.send("HGET", d.store.keys.admission(ExecutorQueue(executor: "echo_executor")), "rate_ms")
                    .string.flatMap(Double.init) == 20
            }
            let tasks = (0..<700).map { #"{"id": "q\#($0)", "name": "q\#($0)", "executor": "echo_executor"}"# }
            let submitted = try await d.submit("[\(tasks.joined(separator: ","))]")
            try await d.waitUntil("10.5 s after the first start", timeout: .seconds(40)) {
                let tree = try await d.store.tree(submitted.treeID, userID: nil)
                let starts = tree.tasks.compactMap { $0.startedAt.flatMap(Timestamp.millis(rfc3339:)) }
                guard let earliest = starts.min() else { return false }
                return nowMillis() > earliest + 10_500
            }
            let tree = try await d.store.tree(submitted.treeID, userID: nil)
            let starts = tree.tasks.compactMap { $0.startedAt.flatMap(Timestamp.millis(rfc3339:)) }
            let first = try #require(starts.min())
            let window = starts.filter { $0 < first + 10_000 }.count
            // 500 at 50/s (plus at most the burst of 10 at the start), within ±5 % of 500.
            #expect(abs(Double(window) - 500) <= 500 * 0.05, "\(window) tasks started in the first 10 s")
        }
    }

    /// A tree submitted with `run_at` starts within 100 ms of that time, not before: the tree's
    /// `started_at` (its ready tasks queued) is in [run_at, run_at + 100 ms], and its task starts
    /// after run_at (an agent's claim adds its own latency on a busy machine).
    @Test func runAtStartsWithinAHundredMilliseconds() async throws {
        try await withDeployment(schedulers: 2, agents: [AgentSpec(executors: ["echo_executor"], concurrency: 2)]) { d in
            let at = nowMillis() + 1_500
            let items = try TaskSubmission.decode(data: Data(#"[{"id": "timed", "name": "timed", "executor": "echo_executor"}]"#.utf8))
            let submitted = try await d.store.submit(items, userID: "alice", runAtMillis: at)
            #expect(try await d.store.treeRecord(submitted.treeID, userID: nil).started == false)
            let tree = try await d.waitForTree(submitted.treeID)
            #expect(tree.tree.status == "completed", "\(tree.summary)\n\(d.diagnostics())")
            let treeStarted = try #require(tree.tree.startedAt.flatMap(Timestamp.millis(rfc3339:)))
            #expect(treeStarted >= at && treeStarted - at <= 100, "tree started \(treeStarted - at) ms after run_at")
            #expect(try tree.requireTask("timed").startedMillis() >= at)
            #expect(try await d.store.redis.send("ZCARD", d.store.keys.timers).int == 0)
        }
    }

    /// A cron schedule (every 2 s, in seconds) fires exactly once per due time with two
    /// schedulers running and one of them killed in between: consecutive due times, each with
    /// one copy, every copy completed.
    @Test func aCronScheduleFiresOncePerDueTimeWithASchedulerKilled() async throws {
        try await withDeployment(schedulers: 1, agents: [AgentSpec(executors: ["echo_executor"], concurrency: 4)]) { d in
            let doomed = try d.startScheduler()
            let items = try TaskSubmission.decode(data: Data(#"[{"id": "tick", "name": "tick", "executor": "echo_executor"}]"#.utf8))
            let schedule = try await d.store.createSchedule(
                items, userID: "alice", timing: .cron(try CronSchedule("*/2 * * * * *"), timeZone: TimeZone(identifier: "UTC")!),
                overlap: .allow)
            try await d.waitUntil("two runs") { try await d.store.scheduleRuns(schedule.id, userID: nil).count >= 2 }
            doomed.signal(SIGKILL)
            try await d.waitUntil("five runs", timeout: .seconds(30)) { try await d.store.scheduleRuns(schedule.id, userID: nil).count >= 5 }
            _ = try await d.store.setSchedule(schedule.id, userID: nil, paused: true)
            let runs = try await d.store.scheduleRuns(schedule.id, userID: nil, limit: 1_000)
            let dues = runs.map(\.dueAt).sorted()
            #expect(Set(dues).count == dues.count, "a due time fired twice: \(dues)")
            #expect(Set(runs.map(\.treeID)).count == runs.count)
            // Consecutive: every 2 s, none skipped (the survivor kept up).
            for (earlier, later) in zip(dues, dues.dropFirst()) { #expect(later - earlier == 2_000, "\(dues)") }
            for run in runs {
                let tree = try await d.waitForTree(run.treeID)
                #expect(tree.tree.status == "completed")
                #expect(tree.tasks.count == 1)
            }
        }
    }
}
