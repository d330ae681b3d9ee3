import BatonCore
@testable import BatonStore
import Foundation
import RedisClient
import Testing

/// Issue 14, item 4: a schedule keeps a template tree and, at each due time, copies it and
/// executes the copy — once per due time however many schedulers fire it.
@Suite struct ScheduleTests {
    static let template = [TaskSubmission(id: "tpl", name: "job", executor: "x")]

    func runs(_ store: BatonStore, _ id: String) async throws -> [ScheduleRun] {
        try await store.scheduleRuns(id, userID: "u")
    }

    @Test func everyDueTimeFiresOnceAndTheCopyRuns() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        let created = clock.now
        let schedule = try await store.createSchedule(Self.template, userID: "u", timing: .every(seconds: 10), overlap: .allow)
        #expect(schedule.nextAt == created + 10_000 && schedule.runs == 0)
        // The template is stored, never executed.
        #expect(try await store.treeRecord(schedule.templateTreeID, userID: "u").started == false)
        clock.advance(milliseconds: 9_999)
        #expect(try await store.fireDueTimers() == 0)
        clock.advance(milliseconds: 1)
        // Two schedulers fire the same due time at once: one copy, one run.
        let handled = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<2 { group.addTask { try await store.fireDueTimers() } }
            return try await group.reduce(0, +)
        }
        #expect(handled >= 1)
        let first = try await runs(store, schedule.id)
        #expect(first.count == 1 && first[0].dueAt == created + 10_000)
        let copy = try await store.treeRecord(first[0].treeID, userID: "u")
        #expect(copy.started && copy.originType == "copy")
        #expect(try await store.claim(executor: "x", count: 5, leaseMillis: 1_000).map(\.treeID) == [first[0].treeID])
        let after = try await store.schedule(schedule.id, userID: "u")
        #expect(after.runs == 1 && after.nextAt == created + 20_000 && after.lastTreeID == first[0].treeID)
        // The next due time makes a new copy.
        clock.advance(milliseconds: 10_000)
        _ = try await store.fireDueTimers()
        #expect(try await runs(store, schedule.id).count == 2)
    }

    @Test func aScheduleFiringAgainAfterACrashFindsTheSameCopy() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        let schedule = try await store.createSchedule(Self.template, userID: "u", timing: .every(seconds: 5), overlap: .allow)
        clock.advance(milliseconds: 5_000)
        // A scheduler copied the template for this due time and died before recording the run.
        let due = try #require(schedule.nextAt)
        let orphan = try await store.copyTree(schedule.templateTreeID, userID: nil, ownerID: "u", token: "schedule-\(schedule.id)-\(due)")
        _ = try await store.fireDueTimers()
        let made = try await runs(store, schedule.id)
        #expect(made.map(\.treeID) == [orphan.treeID])
        let trees = try await store.listTrees(userID: "u", limit: 10).trees.map(\.id)
        #expect(trees.count == 2, "\(trees)")  // the template and one copy
    }

    @Test func overlapSkipAndCancelPrevious() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        let skip = try await store.createSchedule(Self.template, userID: "u", timing: .every(seconds: 5), overlap: .skip)
        clock.advance(milliseconds: 5_000)
        _ = try await store.fireDueTimers()
        clock.advance(milliseconds: 5_000)
        _ = try await store.fireDueTimers()  // the first run has not finished: skipped
        var record = try await store.schedule(skip.id, userID: "u")
        #expect(record.runs == 1 && record.skipped == 1)

        let other = [TaskSubmission(id: "cp", name: "job", executor: "y")]
        let cancelling = try await store.createSchedule(other, userID: "u", timing: .every(seconds: 5), overlap: .cancelPrevious)
        clock.advance(milliseconds: 5_000)
        _ = try await store.fireDueTimers()
        let firstRun = try #require(try await runs(store, cancelling.id).first)
        clock.advance(milliseconds: 5_000)
        _ = try await store.fireDueTimers()
        #expect(try await store.treeRecord(firstRun.treeID, userID: "u").status == "cancelled")
        record = try await store.schedule(cancelling.id, userID: "u")
        #expect(record.runs == 2 && record.skipped == 0)
    }

    @Test func aMissedStretchFiresOnceThenGoesOnFromNow() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        let schedule = try await store.createSchedule(Self.template, userID: "u", timing: .every(seconds: 10), overlap: .allow)
        // No scheduler for 55 s: five due times passed.
        clock.advance(milliseconds: 55_000)
        _ = try await store.fireDueTimers()
        _ = try await store.fireDueTimers()
        let made = try await runs(store, schedule.id)
        #expect(made.count == 1 && made[0].dueAt == schedule.nextAt)
        #expect(try await store.schedule(schedule.id, userID: "u").nextAt == schedule.createdAt + 60_000)
    }

    @Test func pauseResumeAndDelete() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        let schedule = try await store.createSchedule(
            Self.template, userID: "u", timing: .cron(try CronSchedule("*/10 * * * * *"), timeZone: TimeZone(identifier: "UTC")!))
        _ = try await store.setSchedule(schedule.id, userID: "u", paused: true)
        clock.advance(milliseconds: 30_000)
        _ = try await store.fireDueTimers()
        #expect(try await runs(store, schedule.id).isEmpty)
        let resumed = try await store.setSchedule(schedule.id, userID: "u", paused: false)
        #expect(!resumed.paused && (resumed.nextAt ?? 0) > clock.now)
        // Another user sees nothing of it.
        await #expect(throws: BatonError.self) { try await store.schedule(schedule.id, userID: "someone-else") }
        #expect(try await store.schedules(userID: "u").map(\.id) == [schedule.id])
        try await store.deleteSchedule(schedule.id, userID: "u")
        await #expect(throws: BatonError.self) { try await store.schedule(schedule.id, userID: "u") }
        await #expect(throws: BatonError.self) { try await store.treeRecord(schedule.templateTreeID, userID: "u") }
        #expect(try await store.redis.send("ZCARD", store.keys.timers).int == 0)
    }

    @Test func requestsAreCheckedNamingTheField() throws {
        let rules = SubmissionRules()
        let good = try ScheduleRequest(
            try JSONValue(parsing: #"{"tree": [{"name": "a"}], "cron": "0 9 * * *", "timezone": "Europe/Paris", "overlap": "cancel_previous"}"#),
            rules: rules, userID: "u", isAdmin: false)
        #expect(good.timeZoneName == "Europe/Paris" && good.overlap == .cancelPrevious)
        for (body, field) in [
            (#"{"tree": [{"name": "a"}]}"#, "cron"),
            (#"{"tree": [{"name": "a"}], "cron": "* * * * *", "every_s": 5}"#, "cron"),
            (#"{"tree": [{"name": "a"}], "every_s": 0}"#, "every_s"),
            (#"{"tree": [{"name": "a"}], "cron": "61 * * * *"}"#, "cron"),
            (#"{"tree": [{"name": "a"}], "cron": "* * * * *", "timezone": "Mars/Olympus"}"#, "timezone"),
            (#"{"tree": [{"name": "a"}], "cron": "* * * * *", "overlap": "queue"}"#, "overlap"),
            (#"{"tree": {"name": "a"}, "cron": "* * * * *"}"#, "tree"),
            (#"{"tree": [{"name": "a"}], "cron": "* * * * *", "when": 1}"#, "when"),
        ] {
            let error = #expect(throws: BatonError.self) {
                try ScheduleRequest(try JSONValue(parsing: body), rules: rules, userID: "u", isAdmin: false)
            }
            #expect(error?.field == field, "\(body)")
        }
    }
}
