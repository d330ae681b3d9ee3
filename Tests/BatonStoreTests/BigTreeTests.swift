import BatonCore
@testable import BatonStore
import Foundation
import RedisClient
import Testing

/// Issue 13, item 4: big trees are written, cancelled and deleted in slices, so no script holds
/// Redis long. A tree bigger than one slice (``BatonStore/submitSliceTasks``) is written under a
/// `staging` record that no reader sees, then committed at once; a refused slice removes what was
/// staged, and the sweep removes a staging its submitter abandoned.
@Suite struct BigTreeTests {
    /// `count` independent tasks `t1…`, or a chain when `chain`.
    static func items(_ count: Int, prefix: String = "t", chain: Bool = false) -> [TaskSubmission] {
        (1...count).map { index in
            TaskSubmission(
                id: "\(prefix)\(index)", name: "\(prefix)\(index)", executor: "x",
                dependencies: chain && index > 1 ? [.init(kind: .id, key: "\(prefix)\(index - 1)")] : [])
        }
    }

    /// Stages task `id` as the first slice of tree `id` under `token`, as a submitter that died
    /// after its first slice leaves it.
    func stageFirstSlice(_ store: BatonStore, _ id: String, token: String, now: Int64) async throws {
        let fields = TaskHash.fields(
            of: TaskRecord(id: id, treeID: id, name: "staged", executor: "x"),
            createdAt: now, waiting: 0, dependents: [], queued: false)
        let stage = ["u", "1", id, "create", "stage", "0", "1", id, String(fields.count / 2)] + fields + [token, ""]
        #expect(try await store.run([store.treeCall(.submitTree, id, now: now, stage)], operation: "test").first?.string == "OK")
        #expect(try await store.redis.send("EXISTS", store.keys.task(id, id)).int == 1)
    }

    func count(_ store: BatonStore, matching pattern: String) async throws -> Int {
        var cursor = "0"
        var found = 0
        repeat {
            let reply = try await store.redis.send("SCAN", cursor, "MATCH", pattern, "COUNT", "1000").array ?? []
            cursor = reply.first?.string ?? "0"
            found += reply.count > 1 ? (reply[1].array?.count ?? 0) : 0
        } while cursor != "0"
        return found
    }

    @Test func aTreeOfSeveralSlicesIsStoredWhole() async throws {
        let store = try makeStore()
        let total = BatonStore.submitSliceTasks * 2 + 500
        let result = try await store.submit(Self.items(total), userID: "u")
        #expect(result.treeID == "t1" && result.taskIDs.count == total)
        let record = try await store.treeRecord("t1", userID: "u")
        #expect(record.status == "pending" && record.started && record.taskCount == total && record.counts["pending"] == total)
        // Submission order is kept across slices, every task is indexed, every ready task queued
        // (in more than one enqueue call: 2,500 > enqueueSliceTasks).
        let order = (try await store.redis.send("ZRANGE", store.keys.treeTasks("t1"), "0", "-1").array ?? []).compactMap(\.string)
        #expect(order == (1...total).map { "t\($0)" })
        #expect(try await store.treeIDs(ofTasks: ["t1", "t\(BatonStore.submitSliceTasks + 1)", "t\(total)"]) == ["t1", "t1", "t1"])
        #expect(try await store.redis.send("ZCARD", store.keys.ready("x")).int == total)
        #expect(try await store.task("t\(total)", userID: "u").status == .pending)
        // Nothing of the staging is left: no reservation, no in-flight mark.
        #expect(try await store.redis.send("EXISTS", store.keys.inflightSubmissions).int == 0)
        #expect(try await store.redis.send("HLEN", store.keys.idReservations(bucket: Keys.bucket(of: "t1"))).int == 0)
        let events = try await store.redis.send("XLEN", store.keys.treeEvents("t1")).int ?? 0
        #expect(events > 0)
    }

    @Test func aChainAcrossSlicesRunsInOrder() async throws {
        let store = try makeStore()
        let total = BatonStore.submitSliceTasks + 10
        _ = try await store.submit(Self.items(total, prefix: "c", chain: true), userID: nil)
        // Only the head is ready; the task after a slice boundary waits for the one before it.
        #expect(try await store.redis.send("ZCARD", store.keys.ready("x")).int == 1)
        let boundary = try await store.task("c\(BatonStore.submitSliceTasks + 1)", userID: nil)
        #expect(boundary.status == .pending && boundary.dependencies.map(\.id) == ["c\(BatonStore.submitSliceTasks)"])
    }

    @Test func aStagingTreeIsInvisibleUntilItsCommit() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        // A first slice staged by hand, as a submitter that died after it would leave it.
        let token = "staging-token"
        let mark = "s1\t\(token)"
        try await store.redis.send("ZADD", store.keys.inflightSubmissions, String(clock.now), mark)
        try await stageFirstSlice(store, "s1", token: token, now: clock.now)

        // No reader sees it.
        let readers: [(String, @Sendable () async throws -> Void)] = [
            ("tree record", { _ = try await store.treeRecord("s1", userID: nil) }),
            ("tree", { _ = try await store.tree("s1", userID: nil) }),
            ("task", { _ = try await store.task("s1", userID: nil) }),
            ("start", { try await store.startTree("s1", userID: nil) }),
            ("cancel", { _ = try await store.cancelTree("s1", userID: nil) }),
        ]
        for (name, read) in readers {
            let error = await #expect(throws: BatonError.self, "\(name)") { try await read() }
            #expect(error?.code == .notFound, "\(name): \(String(describing: error))")
        }
        let child = await #expect(throws: BatonError.self) {
            _ = try await store.addTask(TaskSubmission(name: "kid", executor: "x", parentID: "s1"), userID: nil, ownerID: nil)
        }
        #expect(child?.field == "parent_id", "\(String(describing: child))")
        let dependent = TaskSubmission(name: "d", executor: "x", dependencies: [.init(kind: .id, key: "s1")])
        let dependency = await #expect(throws: BatonError.self) { _ = try await store.submit([dependent], userID: "u") }
        #expect(dependency?.field == "dependencies[0]" || dependency?.field == "tasks[0].dependencies[0]", "\(String(describing: dependency))")
        // A slice out of order, or a commit that misses a slice, is refused and changes nothing.
        let gap = ["u", "1", "s1", "create", "stage", "5", "0", token, ""]
        let commit = ["u", "1", "s1", "create", "commit", "2", "0", token, ""]
        for arguments in [gap, commit] {
            let refused = await #expect(throws: BatonError.self) {
                _ = try await store.run([store.treeCall(.submitTree, "s1", now: clock.now, arguments)], operation: "test")
            }
            #expect(refused?.code == .conflict, "\(String(describing: refused))")
        }

        // The sweep leaves a fresh staging alone, and removes one nobody wrote to for a minute.
        clock.advance(milliseconds: 30_000)
        #expect(try await store.repairInflightSubmissions(olderThanMillis: 0) == 0)
        #expect(try await store.redis.send("EXISTS", store.keys.tree("s1")).int == 1)
        clock.advance(milliseconds: BatonStore.abandonedSubmissionMillis)
        #expect(try await store.repairInflightSubmissions(olderThanMillis: 0) == 1)
        #expect(try await count(store, matching: "\(store.keys.namespace):{t:s1}*") == 0)
        #expect(try await store.redis.send("EXISTS", store.keys.inflightSubmissions).int == 0)
    }

    @Test func aRefusedSliceRemovesWhatWasStaged() async throws {
        let store = try makeStore()
        let total = BatonStore.submitSliceTasks * 2
        // A key planted where a task of the second slice would go.
        let planted = "p\(BatonStore.submitSliceTasks + 7)"
        try await store.redis.send("SET", store.keys.task("p1", planted), "x")
        let refused = await #expect(throws: BatonError.self) { _ = try await store.submit(Self.items(total, prefix: "p"), userID: "u") }
        #expect(refused?.code == .alreadyExists && refused?.message.contains(planted) == true, "\(String(describing: refused))")
        // Only the planted key is left of the tree's slot; the ids are free again.
        #expect(try await count(store, matching: "\(store.keys.namespace):{t:p1}*") == 1)
        #expect(try await store.treeIDs(ofTasks: ["p1", "p2", planted]) == [nil, nil, nil])
        #expect(try await store.redis.send("EXISTS", store.keys.inflightSubmissions).int == 0)
        // With the key gone, the same tree is stored.
        try await store.redis.send("DEL", store.keys.task("p1", planted))
        let stored = try await store.submit(Self.items(total, prefix: "p"), userID: "u")
        #expect(stored.taskIDs.count == total)
    }

    @Test func aReplayAfterACrashMidStagingStagesAgain() async throws {
        let store = try makeStore()
        let total = BatonStore.submitSliceTasks + 1
        // The first attempt staged its first slice and died.
        try await stageFirstSlice(store, "r1", token: "replay", now: store.clock())
        // Another submission of the tree is refused: the staging holds its id…
        let other = await #expect(throws: BatonError.self) { _ = try await store.submit(Self.items(total, prefix: "r"), userID: "u", token: "other") }
        #expect(other?.code == .alreadyExists, "\(String(describing: other))")
        // …the replay removes the old staging and stages the tree again.
        let replay = try await store.submit(Self.items(total, prefix: "r"), userID: "u", token: "replay")
        #expect(replay.taskIDs.count == total)
        #expect(try await store.task("r1", userID: "u").name == "r1")
        #expect(try await store.treeRecord("r1", userID: "u").taskCount == total)
        #expect(try await store.redis.send("ZCARD", store.keys.ready("x")).int == total)
    }

    @Test func aBigTreeIsCancelledSliceBySliceAndDeletedWhole() async throws {
        let store = try makeStore()
        let total = BatonStore.cancelSliceTasks * 2 + 17
        // A chain: each slice's first task is a dependent of the previous slice's last one.
        _ = try await store.submit(Self.items(total, prefix: "k", chain: true), userID: "u", execute: false)
        let outcomes = try await store.cancelTree("k1", userID: "u")
        #expect(outcomes.count == total && Set(outcomes.map(\.taskID)).count == total)
        #expect(outcomes.allSatisfy { $0.status == "cancelled" })
        let record = try await store.treeRecord("k1", userID: "u")
        #expect(record.status == "cancelled" && record.counts["cancelled"] == total && record.counts["pending"] == 0, "\(record)")
        #expect(try await store.redis.send("ZCARD", store.keys.ready("x")).int == 0)

        try await store.deleteTree("k1", userID: "u", mode: .finished)
        #expect(try await count(store, matching: "\(store.keys.namespace):{t:k1}*") == 0)
        #expect(try await store.treeIDs(ofTasks: ["k1", "k\(BatonStore.deleteSliceTasks + 1)", "k\(total)"]) == [nil, nil, nil])
    }

    @Test func aBigTreeIsArchivedSliceBySlice() async throws {
        let store = try makeStore()
        let total = BatonStore.archiveSliceTasks * 2 + 5
        _ = try await store.submit(Self.items(total, prefix: "a"), userID: "u")
        var started: [StartedTask] = []
        while started.count < total { started += try await claimAndStart(store, executor: "x") }
        _ = try await store.apply(started.map { Report(kind: .completed, treeID: $0.treeID, taskID: $0.taskID, attempt: $0.attempt, data: "1") })
        #expect(try await store.treeRecord("a1", userID: "u").status == "completed")

        // An archive interrupted after its first slice: the tree is archived (immutable) already…
        let firstSlice = ["1", "u", "0", String(BatonStore.archiveSliceTasks - 1), "0"]
        _ = try await store.run([store.treeCall(.archiveTree, "a1", now: store.clock(), firstSlice)], operation: "test")
        #expect(try await store.treeRecord("a1", userID: "u").archived)
        let immutable = await #expect(throws: BatonError.self) {
            _ = try await store.addTask(TaskSubmission(name: "late", executor: "x", parentID: "a1"), userID: "u", ownerID: "u")
        }
        #expect(immutable?.code == .immutable, "\(String(describing: immutable))")
        #expect(try await store.task("a\(total)", userID: "u").originType == .create)
        // …and the next archive call finishes it: every task archived, one tree_archived event.
        let record = try await store.archiveTree("a1", userID: "u")
        #expect(record.archived && record.originType == "archive")
        for id in ["a1", "a\(BatonStore.archiveSliceTasks + 1)", "a\(total)"] {
            #expect(try await store.task(id, userID: "u").originType == .archive, "\(id)")
        }
        #expect(try await taskHash(store, "a1", "a1")["origin_type"] == "archive")
        #expect(try await store.redis.send("HEXISTS", store.keys.tree("a1"), "archiving").int == 0)
        let archived = try await events(store, "a1").filter { $0.fields["type"] == "tree_archived" }
        #expect(archived.count == 1)
        // Archiving an archived tree changes nothing.
        _ = try await store.archiveTree("a1", userID: "u")
        #expect(try await events(store, "a1").filter { $0.fields["type"] == "tree_archived" }.count == 1)
    }

    @Test func treesBeyondTheLimitAreRefusedNamingTheField() async throws {
        let redis = try RedisClient(url: try testRedisURL())
        let store = BatonStore(
            redis: redis, keys: Keys(namespace: "test-\(UUID().uuidString.prefix(8).lowercased())"), maxTasksPerTree: 3, maxTasksPerRead: 2)
        let tooMany = await #expect(throws: BatonError.self) { _ = try await store.submit(Self.items(4), userID: "u") }
        #expect(tooMany?.code == .payloadTooLarge && tooMany?.field == "tasks", "\(String(describing: tooMany))")
        #expect(try await store.redis.send("EXISTS", store.keys.tree("t1")).int == 0)
        _ = try await store.submit(Self.items(3), userID: "u")
        let full = await #expect(throws: BatonError.self) {
            _ = try await store.addTask(TaskSubmission(name: "t4", executor: "x", parentID: "t1"), userID: "u", ownerID: "u")
        }
        #expect(full?.code == .payloadTooLarge && full?.field == "parent_id", "\(String(describing: full))")
        #expect(try await store.treeRecord("t1", userID: "u").taskCount == 3)
        // A tree bigger than a whole read allows is paged through the task listing instead.
        for read in [{ _ = try await store.tree("t1", userID: "u") }, { _ = try await store.treeWithWaiting("t1", userID: "u") }] {
            let tooBig = await #expect(throws: BatonError.self) { try await read() }
            #expect(tooBig?.code == .payloadTooLarge && tooBig?.field == "tree_id"
                && tooBig?.message.contains("GET /v1/tasks?tree_id=t1") == true, "\(String(describing: tooBig))")
        }
        let page = try await store.listTasks(userID: "u", filter: TaskFilter(treeID: "t1"), limit: 2)
        #expect(page.tasks.count == 2 && page.nextCursor != nil)
    }
}
