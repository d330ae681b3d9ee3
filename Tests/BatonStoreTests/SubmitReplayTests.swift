import BatonCore
@testable import BatonStore
import Foundation
import RedisClient
import Testing

/// Issue 9, item 1: a submission whose process died part-way is finished exactly once — by its
/// own replay (same token) or by the sweep of in-flight marks — and never refused as "id taken".
@Suite struct SubmitReplayTests {
    static let tree = #"""
        [{"id": "r", "name": "r", "executor": "x"},
         {"name": "kid", "executor": "x", "parent_id": "r", "dependencies": ["r"]}]
        """#

    func readyMembers(_ store: BatonStore) async throws -> [String] {
        (try await store.redis.send("ZRANGE", store.keys.ready("x"), "0", "-1").array ?? []).compactMap(\.string)
    }

    @Test func generatedIDsFollowTheToken() throws {
        #expect(TaskID.deterministic(seed: "1-0", position: 1) == TaskID.deterministic(seed: "1-0", position: 1))
        #expect(TaskID.deterministic(seed: "1-0", position: 1) != TaskID.deterministic(seed: "1-0", position: 2))
        #expect(TaskID.deterministic(seed: "1-0", position: 1) != TaskID.deterministic(seed: "1-1", position: 1))
        let id = TaskID.deterministic(seed: "entry", position: 7)
        #expect(id.count == 36 && Array(id)[14] == "4" && "89ab".contains(Array(id)[19]))
        let many = Set((1...10_000).map { TaskID.deterministic(seed: "s", position: $0) })
        #expect(many.count == 10_000)
    }

    @Test func aReplayWhoseIDsItReservedItselfCompletes() async throws {
        let store = try makeStore(clock: TestClock())
        let items = try submissions(Self.tree)
        // The first attempt reserved the ids (of the same token) and died before storing the tree.
        let kid = TaskID.deterministic(seed: "1700000000000-0", position: 1)
        for id in ["r", kid] {
            let bucket = Keys.bucket(of: id)
            _ = try await store.redis.eval(IndexScript.reserveIDs.script, keys: [store.keys.idIndex(bucket: bucket), store.keys.idReservations(bucket: bucket)],
                                           arguments: ["r", "1700000000000-0", id])
        }
        // Another submission naming the same ids is told to retry: the holder's outcome is not
        // known yet (it may still be writing the tree, or died and its ids come back)…
        let held = await #expect(throws: BatonError.self) {
            _ = try await store.submit(items, userID: "u", token: "1700000000001-0")
        }
        #expect(held?.code == .unavailable && held?.message.contains("tasks[0].id") == true, "\(String(describing: held))")
        // …but the replay goes through, with the same generated ids.
        let result = try await store.submit(items, userID: "u", token: "1700000000000-0")
        #expect(result.treeID == "r" && result.taskIDs == ["r", kid])
        #expect(try await readyMembers(store) == [Keys.member(tree: "r", task: "r")])
        // Nothing of the reservation or the in-flight mark is left.
        for id in ["r", kid] {
            #expect(try await store.redis.send("HEXISTS", store.keys.idReservations(bucket: Keys.bucket(of: id)), id).int == 0)
        }
        #expect(try await store.redis.send("EXISTS", store.keys.inflightSubmissions).int == 0)
    }

    @Test func aReplayOfAStoredTreeQueuesItsReadyTasksOnce() async throws {
        let store = try makeStore(clock: TestClock())
        let items = try submissions(Self.tree)
        let first = try await store.submit(items, userID: "u", token: "entry-1")
        // Pretend the first attempt died before queueing: its ready task never reached the queue.
        try await store.redis.send("DEL", store.keys.ready("x"))
        let replay = try await store.submit(items, userID: "u", token: "entry-1")
        #expect(replay == first)
        #expect(try await readyMembers(store) == [Keys.member(tree: "r", task: "r")])
        let tree = try await store.tree("r", userID: nil)
        #expect(tree.tasks.count == 2 && tree.tree.status == "pending")
        // Events: each task was created once.
        let events = try await store.redis.send("XRANGE", store.keys.treeEvents("r"), "-", "+").array ?? []
        #expect(events.count == 2)
        // A different submission of the same tree is refused: the tree exists.
        let taken = await #expect(throws: BatonError.self) { _ = try await store.submit(items, userID: "u", token: "entry-2") }
        #expect(taken?.code == .alreadyExists && taken?.field == "tasks[0].id", "\(String(describing: taken))")
    }

    @Test func theSweepQueuesATreeWhoseSubmitterDiedAfterStoringIt() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        _ = try await store.submit(try submissions(Self.tree), userID: "u")
        #expect(try await store.redis.send("EXISTS", store.keys.inflightSubmissions).int == 0)
        // The crash: stored and marked in flight, nothing queued.
        try await store.redis.send("DEL", store.keys.ready("x"))
        try await store.redis.send("ZADD", store.keys.inflightSubmissions, String(clock.now), "r")
        // A mark younger than the threshold is left alone (the submitter may be alive).
        #expect(try await store.repairInflightSubmissions(olderThanMillis: 10_000) == 0)
        #expect(try await readyMembers(store).isEmpty)
        clock.advance(milliseconds: 10_001)
        #expect(try await store.repairInflightSubmissions(olderThanMillis: 10_000) == 1)
        #expect(try await readyMembers(store) == [Keys.member(tree: "r", task: "r")])
        #expect(try await store.redis.send("EXISTS", store.keys.inflightSubmissions).int == 0)

        // A mark whose tree was never stored (its submitter died after reserving the ids) stays a
        // minute, then goes with the reservation: the ids are free again.
        try await store.redis.send("ZADD", store.keys.inflightSubmissions, String(clock.now), "ghost\tdead-token")
        for id in ["ghost", "ghost-kid"] {
            let bucket = Keys.bucket(of: id)
            _ = try await store.redis.eval(IndexScript.reserveIDs.script, keys: [store.keys.idIndex(bucket: bucket), store.keys.idReservations(bucket: bucket)],
                                           arguments: ["ghost", "dead-token", id])
        }
        // A retry under another token is refused (the ids are taken) and leaves the dead attempt's mark.
        let ghostTree = #"[{"id": "ghost", "name": "g", "executor": "x"}, {"id": "ghost-kid", "name": "k", "executor": "x", "parent_id": "ghost"}]"#
        await #expect(throws: BatonError.self) { _ = try await store.submit(try submissions(ghostTree), userID: "u") }
        #expect(try await store.redis.send("ZSCORE", store.keys.inflightSubmissions, "ghost\tdead-token").string != nil)
        clock.advance(milliseconds: 20_000)
        #expect(try await store.repairInflightSubmissions(olderThanMillis: 10_000) == 0)
        clock.advance(milliseconds: 60_000)
        #expect(try await store.repairInflightSubmissions(olderThanMillis: 10_000) == 1)
        #expect(try await store.redis.send("EXISTS", store.keys.inflightSubmissions).int == 0)
        #expect(try await store.treeID(ofTask: "ghost") == nil)
        #expect(try await store.treeID(ofTask: "ghost-kid") == nil)
        _ = try await store.submit(try submissions(#"[{"id": "ghost", "name": "g", "executor": "x"}, {"id": "ghost-kid", "name": "k", "executor": "x", "parent_id": "ghost"}]"#), userID: "u")
    }

    /// An added task (``BatonStore/addTask(_:userID:ownerID:validator:)``) is marked in flight like
    /// a submission: a process that died after reserving its id gives the id back after a minute,
    /// and one that died after storing it has it queued by the sweep.
    @Test func anAddedTaskWhoseProcessDiedIsQueuedOrItsIDGivenBack() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        _ = try await store.submit(try submissions(#"[{"id": "p", "name": "p", "executor": "x"}]"#), userID: "u")
        let added = try await store.addTask(
            try submissions(#"[{"id": "added", "name": "a", "executor": "x", "parent_id": "p"}]"#)[0], userID: "u", ownerID: "u")
        #expect(added.treeID == "p")
        #expect(try await store.redis.send("EXISTS", store.keys.inflightSubmissions).int == 0, "a finished add leaves no mark")

        // Died after the script, before queueing: the task is stored, its reservation and mark remain.
        try await store.redis.send("ZREM", store.keys.ready("x"), Keys.member(tree: "p", task: "added"))
        try await store.redis.send("HSET", store.keys.idReservations(bucket: Keys.bucket(of: "added")), "added", "stored-token")
        try await store.redis.send("ZADD", store.keys.inflightSubmissions, String(clock.now), "p\tstored-token")
        // Died after reserving, before the script: the id is reserved for the tree, nothing stored.
        let lostBucket = Keys.bucket(of: "lost")
        try await store.redis.send("ZADD", store.keys.inflightSubmissions, String(clock.now), "p\tlost-token")
        _ = try await store.redis.eval(IndexScript.reserveIDs.script, keys: IndexScript.reserveIDs.keys(store.keys, bucket: lostBucket),
                                       arguments: ["p", "lost-token", "lost"])

        clock.advance(milliseconds: 10_001)
        #expect(try await store.repairInflightSubmissions(olderThanMillis: 10_000) == 1, "the stored one is settled at once")
        #expect(Set(try await readyMembers(store)) == [Keys.member(tree: "p", task: "p"), Keys.member(tree: "p", task: "added")])
        #expect(try await store.redis.send("HEXISTS", store.keys.idReservations(bucket: Keys.bucket(of: "added")), "added").int == 0)
        #expect(try await store.treeID(ofTask: "added") == "p", "a stored task keeps its index entry")
        #expect(try await store.treeID(ofTask: "lost") == "p", "an id whose outcome is unknown stays reserved for a minute")
        clock.advance(milliseconds: 60_000)
        #expect(try await store.repairInflightSubmissions(olderThanMillis: 10_000) == 1)
        #expect(try await store.treeID(ofTask: "lost") == nil)
        #expect(try await store.redis.send("EXISTS", store.keys.inflightSubmissions).int == 0)
        // The id is free again.
        _ = try await store.addTask(
            try submissions(#"[{"id": "lost", "name": "l", "executor": "x", "parent_id": "p"}]"#)[0], userID: "u", ownerID: "u")
        #expect(try await store.task("lost", userID: nil).status == .pending)
    }
}
