import BatonCore
@testable import BatonStore
import Foundation
import RedisClient
import Testing

/// Issue 14, item 4: a tree submitted with `run_at` is stored at once and started at that time.
@Suite struct RunAtTests {
    static func items(_ prefix: String) -> [TaskSubmission] {
        [TaskSubmission(id: "\(prefix)a", name: "a", executor: "x"),
         TaskSubmission(id: "\(prefix)b", name: "b", executor: "x", dependencies: [.init(kind: .id, key: "\(prefix)a")])]
    }

    @Test func aTreeWaitsForItsTimeThenStarts() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        let at = clock.now + 5_000
        let result = try await store.submit(Self.items("r"), userID: "u", runAtMillis: at)
        let record = try await store.treeRecord(result.treeID, userID: "u")
        #expect(!record.started && record.runAt == Timestamp.rfc3339(millis: at))
        #expect(try await store.redis.send("ZCARD", store.keys.ready("x")).int == 0)
        let (_, waiting) = try await store.taskWithWaiting("ra", userID: "u")
        #expect(waiting?.reason == .notStarted && waiting?.runAt == Timestamp.rfc3339(millis: at))
        // Not yet: nothing fires.
        clock.advance(milliseconds: 4_999)
        #expect(try await store.fireDueTimers() == 0)
        #expect(try await store.treeRecord(result.treeID, userID: "u").started == false)
        // Its time: started, its ready task queued; a second scheduler firing too changes nothing.
        clock.advance(milliseconds: 1)
        _ = try await store.redis.send("ZADD", store.keys.timers, String(at), "start\t\(result.treeID)").throwingError()
        #expect(try await store.fireDueTimers() == 1)
        #expect(try await store.treeRecord(result.treeID, userID: "u").started)
        #expect(try await store.claim(executor: "x", count: 5, leaseMillis: 1_000).map(\.taskID) == ["ra"])
        #expect(try await store.fireDueTimers() == 0)
        #expect(try await store.redis.send("ZCARD", store.keys.timers).int == 0)
    }

    @Test func aTimeGoneRunsAtOnceAndAFarOneIsRefused() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        let result = try await store.submit(Self.items("p"), userID: "u", runAtMillis: clock.now - 1_000)
        #expect(try await store.treeRecord(result.treeID, userID: "u").started)
        #expect(try await store.redis.send("ZCARD", store.keys.timers).int == 0)
        let far = clock.now + BatonStore.maxRunAtAheadMillis + 1
        let error = await #expect(throws: BatonError.self) { try await store.submit(Self.items("f"), userID: "u", runAtMillis: far) }
        #expect(error?.field == "run_at")
        #expect(try await store.redis.send("EXISTS", store.keys.tree("fa")).int == 0)
    }

    @Test func aTreeDeletedOrCancelledBeforeItsTimeIsDropped() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        let cancelled = try await store.submit(Self.items("c"), userID: "u", runAtMillis: clock.now + 1_000)
        _ = try await store.cancelTree(cancelled.treeID, userID: "u")
        _ = try await store.redis.send("ZADD", store.keys.timers, String(clock.now + 1_000), "start\tnever-stored").throwingError()
        clock.advance(milliseconds: 1_000)
        #expect(try await store.fireDueTimers() == 2)
        #expect(try await store.treeRecord(cancelled.treeID, userID: "u").status == "cancelled")
        #expect(try await store.redis.send("ZCARD", store.keys.timers).int == 0)
        #expect(try await store.redis.send("ZCARD", store.keys.ready("x")).int == 0)
    }

    @Test func runAtIsParsedAndChecked() throws {
        let rules = SubmissionRules()
        let body = try JSONValue(parsing: #"{"tasks": [{"name": "a"}], "run_at": "2026-12-02T03:00:00.250Z"}"#)
        #expect(try rules.parse(body, userID: "u", isAdmin: false).runAtMillis == Timestamp.millis(rfc3339: "2026-12-02T03:00:00.250Z"))
        for (text, field) in [
            (#"{"tasks": [{"name": "a"}], "run_at": "tomorrow"}"#, "run_at"),
            (#"{"tasks": [{"name": "a"}], "run_at": 1796176892}"#, "run_at"),
            (#"{"tasks": [{"name": "a"}], "run_at": "2026-12-02T03:00:00Z", "execute": false}"#, "run_at"),
        ] {
            let error = #expect(throws: BatonError.self) { try rules.parse(try JSONValue(parsing: text), userID: "u", isAdmin: false) }
            #expect(error?.field == field, "\(text)")
        }
    }

    @Test func aTimerScorePlantedByHandNeitherTrapsNorStopsTheOthers() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        _ = try await store.redis.send("ZADD", store.keys.timers, "-inf", "start\tplanted").throwingError()
        #expect(try await store.nextTimerDue() == .min)
        let result = try await store.submit(Self.items("h"), userID: "u", runAtMillis: clock.now + 10)
        clock.advance(milliseconds: 10)
        #expect(try await store.fireDueTimers() == 2)
        #expect(try await store.treeRecord(result.treeID, userID: "u").started)
        _ = try await store.redis.send("ZADD", store.keys.timers, "+inf", "start\tfar").throwingError()
        #expect(try await store.nextTimerDue() == .min)  // (counted due: the firing finds nothing due)
        #expect(try await store.fireDueTimers() == 0)
    }

    @Test func aTreeThatCannotStartDoesNotHoldUpTheTimersBehindIt() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        // A tree whose task list was overwritten by hand with another type: its start is refused.
        let broken = try await store.submit(Self.items("b"), userID: "u", runAtMillis: clock.now + 1)
        _ = try await store.redis.send("SET", store.keys.treeTasks(broken.treeID), "x").throwingError()
        let result = try await store.submit(Self.items("k"), userID: "u", runAtMillis: clock.now + 1)
        clock.advance(milliseconds: 1)
        #expect(try await store.fireDueTimers() == 2)
        #expect(try await store.treeRecord(result.treeID, userID: "u").started)
        // The refused one waits a minute, then is tried again.
        let score = try await store.redis.send("ZSCORE", store.keys.timers, "start\t\(broken.treeID)").string.flatMap(Double.init)
        #expect(score == Double(clock.now + 60_000))
    }
}
