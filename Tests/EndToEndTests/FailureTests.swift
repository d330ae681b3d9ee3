import BatonCore
import BatonStore
import Testing

/// Failed dependencies (required and optional), timeouts and retries with backoff.
@Suite("Failures")
struct FailureTests {
    /// A failed required dependency blocks its dependents transitively: they stay `pending`
    /// with `blocked_by`, never run, `task_blocked` is emitted for each, an independent task
    /// still completes, and the tree ends `failed` with a `tree_finished` event.
    @Test func requiredDependencyFailed() async throws {
        try await withDeployment { d in
            let submitted = try await d.submit("""
                [{"id": "extract", "name": "extract", "executor": "fail_executor", "inputs": {"message": "source unreachable"}},
                 {"id": "transform", "name": "transform", "executor": "echo_executor", "parent_id": "extract", "dependencies": ["extract"]},
                 {"id": "load", "name": "load", "executor": "echo_executor", "parent_id": "extract",
                  "dependencies": [{"id": "transform", "required": true}]},
                 {"id": "audit", "name": "audit", "executor": "sleep_executor", "parent_id": "extract", "inputs": {"seconds": 0.3}}]
                """)
            let tree = try await d.waitForTree(submitted.treeID)
            let events = try await d.events(submitted.treeID)
            let context = "\(tree.summary)\n\(events.summary)"
            #expect(tree.tree.status == "failed", "\(context)\n\(d.diagnostics())")
            let extract = try tree.requireTask("extract")
            #expect(extract.status == .failed)
            #expect(extract.error == "source unreachable")
            #expect(try tree.requireTask("audit").status == .completed, "an independent task still runs")
            for id in ["transform", "load"] {
                let task = try tree.requireTask(id)
                #expect(task.status == .pending, "\(id)\n\(context)")
                #expect(task.blockedBy == "extract", "\(id) blocked_by\n\(context)")
                #expect(task.startedAt == nil && task.attempt == 0, "\(id) never ran\n\(context)")
                let blocked = events.of("task_blocked", task: id)
                #expect(blocked.count == 1, "\(id): one task_blocked\n\(context)")
                #expect(blocked.first?["blocked_by"] == "extract")
                #expect(blocked.first?["status"] == "pending")
            }
            #expect(tree.tree.counts["blocked"] == 2)
            #expect(tree.tree.counts["failed"] == 1)
            #expect(tree.tree.counts["completed"] == 1)
            #expect(tree.tree.counts["pending"] == 2)
            #expect(events.of("task_failed", task: "extract").first?["error"] == "source unreachable")
            expectConsistentEvents(events, tree)
        }
    }

    /// An optional dependency that fails: the dependent waits until it failed, then runs
    /// without its key (a declared input of that key is removed, others stay).
    @Test func optionalDependencyFailed() async throws {
        try await withDeployment { d in
            let submitted = try await d.submit("""
                [{"id": "after", "name": "after", "executor": "echo_executor", "inputs": {"enrichment": "declared", "x": 1},
                  "dependencies": [{"id": "enrichment", "required": false}]},
                 {"id": "warmup", "name": "warmup", "executor": "sleep_executor", "parent_id": "after", "inputs": {"seconds": 0.5}},
                 {"id": "enrichment", "name": "enrichment", "executor": "fail_executor", "parent_id": "after",
                  "inputs": {"message": "enrichment service down"}, "dependencies": ["warmup"]}]
                """)
            let tree = try await d.waitForTree(submitted.treeID)
            let events = try await d.events(submitted.treeID)
            #expect(tree.tree.status == "failed", "one task failed\n\(tree.summary)\n\(d.diagnostics())")
            #expect(try tree.requireTask("enrichment").status == .failed)
            #expect(try tree.requireTask("enrichment").error == "enrichment service down")
            let after = try tree.requireTask("after")
            #expect(after.status == .completed, "\(tree.summary)")
            #expect(after.blockedBy == nil)
            // It waited for the optional dependency to fail (which itself waited ≥ 0.5 s).
            try expectRanAfter("after", "enrichment", in: tree, events: events)
            try expectRanAfter("enrichment", "warmup", in: tree, events: events)
            #expect(after.inputs == ["x": 1], "no key for a failed optional dependency")
            #expect(after.result == ["x": 1])
            #expect(events.of("task_blocked").isEmpty)
            expectConsistentEvents(events, tree)
        }
    }

    /// An optional dependency that succeeds: the dependent waits for it, then gets its result,
    /// overwriting a declared input of the same key.
    @Test func optionalDependencySucceeded() async throws {
        try await withDeployment { d in
            let submitted = try await d.submit("""
                [{"id": "report", "name": "report", "executor": "echo_executor", "inputs": {"cache": "declared"},
                  "dependencies": [{"id": "cache", "required": false}]},
                 {"id": "cache", "name": "cache", "executor": "sleep_executor", "parent_id": "report", "inputs": {"seconds": 0.5}}]
                """)
            let tree = try await d.waitForTree(submitted.treeID)
            let events = try await d.events(submitted.treeID)
            #expect(tree.tree.status == "completed", "\(tree.summary)\n\(d.diagnostics())")
            try expectRanAfter("report", "cache", in: tree, events: events)
            let cache = try #require(try tree.requireTask("cache").result)
            #expect(try tree.requireTask("report").inputs == ["cache": cache])
            #expect(try tree.requireTask("report").result == ["cache": cache])
            expectConsistentEvents(events, tree)
        }
    }

    /// A 10 s sleep with `timeout_s` 0.5 fails after about half a second with
    /// `timeout after 0.5 s`, and its dependents are blocked. (The times are the scheduler's, which
    /// applies the report: a loaded machine adds its lag, so the bound is far below the 10 s an
    /// uncut sleep would take, not close to the half second.)
    @Test func timeout() async throws {
        try await withDeployment { d in
            let submitted = try await d.submit("""
                [{"id": "slow", "name": "slow", "executor": "sleep_executor", "inputs": {"seconds": 10}, "timeout_s": 0.5},
                 {"id": "next", "name": "next", "executor": "echo_executor", "dependencies": ["slow"]}]
                """)
            let tree = try await d.waitForTree(submitted.treeID)
            let events = try await d.events(submitted.treeID)
            #expect(tree.tree.status == "failed", "\(tree.summary)\n\(d.diagnostics())")
            let slow = try tree.requireTask("slow")
            #expect(slow.status == .failed)
            #expect(slow.error == "timeout after 0.5 s")
            #expect(slow.attempt == 1)
            #expect(slow.timeoutSeconds == 0.5)
            let ran = try slow.completedMillis() - slow.startedMillis()
            #expect(ran >= 450 && ran < 5000, "ran \(ran) ms: the timeout did not cut the 10 s sleep")
            #expect(try tree.requireTask("next").blockedBy == "slow")
            expectConsistentEvents(events, tree)
        }
    }

    /// `max_attempts` 3 with a fixed 0.3 s backoff: three attempts spaced by at least the
    /// backoff, the first two announced as retries, then `failed` with attempt 3.
    @Test func retryWithFixedBackoff() async throws {
        try await withDeployment { d in
            let submitted = try await d.submit("""
                [{"id": "flaky", "name": "flaky", "executor": "fail_executor", "inputs": {"message": "still broken"},
                  "max_attempts": 3, "backoff": {"strategy": "fixed", "base_s": 0.3}}]
                """)
            let tree = try await d.waitForTree(submitted.treeID)
            let events = try await d.events(submitted.treeID)
            #expect(tree.tree.status == "failed", "\(tree.summary)\n\(d.diagnostics())")
            let flaky = try tree.requireTask("flaky")
            #expect(flaky.status == .failed)
            #expect(flaky.attempt == 3)
            #expect(flaky.error == "still broken")
            let starts = events.of("task_started", task: "flaky")
            #expect(starts.map { $0["attempt"] } == ["1", "2", "3"], "\(events.summary)")
            let times = try starts.map { try timestamp($0) }
            for (earlier, later) in zip(times, times.dropFirst()) {
                #expect(later - earlier >= 300, "retries \(later - earlier) ms apart, backoff is 300 ms\n\(events.summary)")
            }
            let failures = events.of("task_failed", task: "flaky")
            #expect(failures.map { $0["status"] } == ["pending", "pending", "failed"], "\(events.summary)")
            #expect(failures.prefix(2).allSatisfy { $0["will_retry"] == "1" && $0["error"] == "still broken" })
            // Each retry was due no earlier than its failure plus the backoff.
            for failure in failures.prefix(2) {
                let due = try #require(failure["retry_at"].flatMap { Int64($0) }, "\(failure)")
                #expect(due - (try timestamp(failure)) == 300)
            }
            expectConsistentEvents(events, tree)
        }
    }

    /// Exponential backoff doubles: 0.2 s after the first attempt, 0.4 s after the second;
    /// every attempt fails, so the task ends `failed` with attempt 3.
    @Test func retryWithExponentialBackoff() async throws {
        try await withDeployment { d in
            let submitted = try await d.submit("""
                [{"id": "flaky", "name": "flaky", "executor": "fail_executor",
                  "max_attempts": 3, "backoff": {"strategy": "exponential", "base_s": 0.2}}]
                """)
            let tree = try await d.waitForTree(submitted.treeID)
            let events = try await d.events(submitted.treeID)
            #expect(try tree.requireTask("flaky").attempt == 3, "\(tree.summary)\n\(d.diagnostics())")
            #expect(try tree.requireTask("flaky").error == "fail_executor failed")
            let times = try events.of("task_started", task: "flaky").map { try timestamp($0) }
            try #require(times.count == 3, "\(events.summary)")
            #expect(times[1] - times[0] >= 200, "\(events.summary)")
            #expect(times[2] - times[1] >= 400, "\(events.summary)")
            expectConsistentEvents(events, tree)
        }
    }
}
