import BatonCore
import BatonStore
import Foundation
import RedisClient
import Testing

/// Read-only queries: a task, a tree (flat and nested), listings with filters and cursors.
@Suite struct ReadTests {
    @Test func taskIsVisibleToItsOwnerAndAdminsOnly() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(#"[{"id": "mine", "name": "mine", "executor": "x"}]"#), userID: "alice")

        #expect(try await store.task("mine", userID: "alice").id == "mine")
        #expect(try await store.task("mine", userID: nil).userID == "alice")
        let foreign = await batonError { _ = try await store.task("mine", userID: "bob") }
        let missing = await batonError { _ = try await store.task("nothing", userID: "alice") }
        #expect(foreign?.code == .notFound && missing?.code == .notFound)
        // another user's task is indistinguishable from a missing one
        #expect(foreign?.message == "Task mine not found" && missing?.message == "Task nothing not found")

        let foreignTree = await batonError { _ = try await store.tree("mine", userID: "bob") }
        #expect(foreignTree?.code == .notFound && foreignTree?.field == "tree_id")
        #expect(try await store.tree("mine", userID: nil).tasks.map(\.id) == ["mine"])
    }

    @Test func treeFlatAndNested() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions("""
            [{"id": "R", "name": "R", "executor": "x"},
             {"id": "A", "name": "A", "executor": "x", "parent_id": "R"},
             {"id": "A1", "name": "A1", "executor": "x", "parent_id": "A", "dependencies": ["A"]},
             {"id": "B", "name": "B", "executor": "x", "parent_id": "R"},
             {"id": "A2", "name": "A2", "executor": "x", "parent_id": "A", "dependencies": ["A1"]},
             {"id": "S", "name": "S", "executor": "y"}]
            """), userID: "u")
        let tree = try await store.tree("R", userID: "u")
        #expect(tree.tasks.map(\.id) == ["R", "A", "A1", "B", "A2", "S"])
        #expect(tree.tree.id == "R" && tree.tree.rootID == "R" && tree.tree.taskCount == 6)
        #expect(tree.tree.counts == ["pending": 6, "in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0, "blocked": 0])

        let flat = tree.flatJSON
        #expect(flat["tree_id"] == "R" && flat["status"] == "pending" && flat["task_count"] == 6)
        #expect(flat["tasks"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["R", "A", "A1", "B", "A2", "S"])
        #expect(flat["tasks"]?[0]?["children"] == nil)

        /// `id(children…)` of a nested node, recursively.
        func shape(_ node: JSONValue) -> String {
            let kids = node["children"]?.arrayValue ?? []
            let id = node["id"]?.stringValue ?? "?"
            return kids.isEmpty ? id : "\(id)(\(kids.map(shape).joined(separator: ",")))"
        }
        let nested = tree.nestedJSON
        let roots = nested["tasks"]?.arrayValue ?? []
        #expect(roots.map(shape) == ["R(A(A1,A2),B)", "S"])
        #expect(roots.first?["children"]?[1]?["children"] == .array([]))
        #expect(nested["counts"] == flat["counts"] && nested["tree_id"] == "R")

        // counts follow transitions: R and A run, A fails, so A1 and A2 are blocked.
        let started = try await claimAndStart(store, executor: "x")
        #expect(started.map(\.taskID) == ["R", "A", "B"])
        try await store.apply([
            Report.completed(started[0], result: "ok"),
            Report.failed(started[1], error: "boom"),
        ])
        let after = try await store.tree("R", userID: "u").tree
        #expect(after.counts == ["pending": 3, "in_progress": 1, "completed": 1, "failed": 1, "cancelled": 0, "blocked": 2])
        #expect(after.status == "in_progress" && !after.isFinished)
        #expect(abs(after.progress - 1.0 / 6.0) < 1e-9)
    }

    /// Alice's trees a (4 tasks), b (3), c (3) created in that order, with Bob's tree between.
    func seededListing() async throws -> (BatonStore, TestClock) {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        func tree(_ prefix: String, _ count: Int, user: String) async throws {
            var items: [TaskSubmission] = []
            for i in 0..<count {
                items.append(TaskSubmission(
                    id: "\(prefix)\(i)", name: "\(prefix)\(i)", executor: i % 2 == 0 ? "even" : "odd",
                    parentID: i == 0 ? nil : "\(prefix)0"))
            }
            _ = try await store.submit(items, userID: user)
            clock.advance(milliseconds: 1_000)
        }
        // ids chosen so that lexical order is not creation order
        try await tree("z", 4, user: "alice")
        try await tree("bob", 2, user: "bob")
        try await tree("m", 3, user: "alice")
        try await tree("a", 3, user: "alice")
        return (store, clock)
    }

    /// Pages through a listing, checking that only the last page lacks a cursor.
    func allPages(_ store: BatonStore, userID: String?, filter: TaskFilter = TaskFilter(), limit: Int) async throws -> [[String]] {
        var pages: [[String]] = []
        var cursor: String?
        repeat {
            let page = try await store.listTasks(userID: userID, filter: filter, limit: limit, cursor: cursor)
            pages.append(page.tasks.map(\.id))
            if page.nextCursor != nil { #expect(page.tasks.count == limit) }
            cursor = page.nextCursor
        } while cursor != nil && pages.count < 100
        return pages
    }

    @Test func listingPagesCoverEveryTaskOnceInOrder() async throws {
        let (store, _) = try await seededListing()
        let pages = try await allPages(store, userID: "alice", limit: 3)
        #expect(pages == [["z0", "z1", "z2"], ["z3", "m0", "m1"], ["m2", "a0", "a1"], ["a2"]])

        let admin = try await allPages(store, userID: nil, limit: 5)
        #expect(admin == [["z0", "z1", "z2", "z3", "bob0"], ["bob1", "m0", "m1", "m2", "a0"], ["a1", "a2"]])

        // a listing that ends exactly on a page boundary has no empty trailing page
        let nine = try await allPages(store, userID: "alice", filter: TaskFilter(treeID: "m0"), limit: 3)
        #expect(nine == [["m0", "m1", "m2"]])
        let single = try await allPages(store, userID: "alice", limit: 10)
        #expect(single == [["z0", "z1", "z2", "z3", "m0", "m1", "m2", "a0", "a1", "a2"]])

        let bob = try await allPages(store, userID: "bob", limit: 3)
        #expect(bob == [["bob0", "bob1"]])
        #expect(try await store.listTasks(userID: "nobody").tasks.isEmpty)
    }

    @Test func listingFilters() async throws {
        let (store, _) = try await seededListing()
        // every task is ready at once (parents are no barrier): even ones complete except m0,
        // odd ones of tree z fail, the rest keep running
        let even = try await claimAndStart(store, executor: "even")
        try await store.apply(even.filter { $0.taskID != "m0" }.map { Report.completed($0, result: 1) })
        let odd = try await claimAndStart(store, executor: "odd")
        try await store.apply(odd.filter { $0.taskID.hasPrefix("z") }.map { Report.failed($0, error: "no") })

        let completed = try await allPages(store, userID: "alice", filter: TaskFilter(status: .completed), limit: 2)
        #expect(completed == [["z0", "z2"], ["m2", "a0"], ["a2"]])
        let failed = try await allPages(store, userID: "alice", filter: TaskFilter(status: .failed), limit: 3)
        #expect(failed == [["z1", "z3"]])
        let running = try await allPages(store, userID: "alice", filter: TaskFilter(status: .inProgress), limit: 3)
        #expect(running == [["m0", "m1", "a1"]])
        let adminRunning = try await allPages(store, userID: nil, filter: TaskFilter(status: .inProgress), limit: 3)
        #expect(adminRunning == [["bob1", "m0", "m1"], ["a1"]])

        let oddTasks = try await allPages(store, userID: "alice", filter: TaskFilter(executor: "odd"), limit: 2)
        #expect(oddTasks == [["z1", "z3"], ["m1", "a1"]])
        let inTree = try await allPages(store, userID: "alice", filter: TaskFilter(status: .completed, treeID: "z0"), limit: 1)
        #expect(inTree == [["z0"], ["z2"]])
        let none = try await allPages(store, userID: "alice", filter: TaskFilter(executor: "nobody"), limit: 3)
        #expect(none == [[]])

        let foreignTree = await batonError { _ = try await store.listTasks(userID: "alice", filter: TaskFilter(treeID: "bob0")) }
        #expect(foreignTree?.code == .notFound)
        #expect(try await store.listTasks(userID: nil, filter: TaskFilter(treeID: "bob0")).tasks.map(\.id) == ["bob0", "bob1"])
    }

    @Test(arguments: [
        "!!!not base64!!!",
        "bm90LWEtY3Vyc29y",  // base64url of "not-a-cursor": no newline
        "dAotMQ",  // "t\n-1": negative offset
        "dApl",  // "t\ne": offset is not a number
        "_-_-",  // decodes to bytes that are not UTF-8
    ])
    func garbageCursorIsInvalidArgument(_ cursor: String) async throws {
        let (store, _) = try await seededListing()
        let error = await batonError { _ = try await store.listTasks(userID: "alice", limit: 3, cursor: cursor) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.field == "cursor")
    }

    /// Cursors that name a real tree of the listing but an offset that would overflow the
    /// arithmetic or lie past the tree's end (issue 8: the first one killed the gateway).
    @Test(arguments: ["z0\n9223372036854775807", "z0\n9223372036854775600", "z0\n100000001", "z0\n5", "z{0\n1"])
    func outOfRangeCursorIsInvalidArgument(_ decoded: String) async throws {
        let (store, _) = try await seededListing()
        let cursor = Data(decoded.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        let error = await batonError { _ = try await store.listTasks(userID: "alice", limit: 3, cursor: cursor) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.field == "cursor")
    }

    @Test func cursorResumesWhereThePreviousPageStopped() async throws {
        let (store, _) = try await seededListing()
        let first = try await store.listTasks(userID: "alice", limit: 2)
        let cursor = try #require(first.nextCursor)
        #expect(!cursor.contains("=") && !cursor.contains("+") && !cursor.contains("/"))
        let second = try await store.listTasks(userID: "alice", limit: 2, cursor: cursor)
        #expect(second.tasks.map(\.id) == ["z2", "z3"])
        // the same cursor again gives the same page (cursors are positions, not server state)
        #expect(try await store.listTasks(userID: "alice", limit: 2, cursor: cursor).tasks.map(\.id) == ["z2", "z3"])
        // an empty cursor is the first page
        #expect(try await store.listTasks(userID: "alice", limit: 2, cursor: "").tasks.map(\.id) == ["z0", "z1"])
    }
}
