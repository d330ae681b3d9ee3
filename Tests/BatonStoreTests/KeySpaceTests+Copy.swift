import BatonCore
@testable import BatonStore
import Foundation
import RedisClient
import Testing

/// Copy, link, mixed and archive (SPEC "Copy, link, archive, mixed"), part of ``KeySpaceTests``.
extension KeySpaceTests {
    // MARK: Copy

    @Test func copyOfAFinishedTreeRemapsEverythingAndRunsToTheSameResults() async throws {
        let clock = TestClock()
        let store = try makeStore(clock: clock)
        _ = try await store.submit(try submissions(Self.pipeline), userID: "u")
        _ = try await runAll(store)
        let source = try await store.tree("fetch", userID: "u")
        let before = try await keySpace(store)
        clock.advance(milliseconds: 1_000)

        let copy = try await store.copyTree("fetch", userID: "u", ownerID: "u")
        #expect(copy.taskIDs.count == 4 && Set(copy.taskIDs).isDisjoint(with: source.tasks.map(\.id)))
        #expect(copy.treeID == copy.taskIDs[0])
        let copied = try await store.tree(copy.treeID, userID: "u")
        #expect(copied.tree.status == "pending" && !copied.tree.started && copied.tree.originType == "copy")
        let map = Dictionary(uniqueKeysWithValues: zip(source.tasks.map(\.id), copy.taskIDs))
        for (old, new) in zip(source.tasks, copied.tasks) {
            #expect(new.id == map[old.id] && new.treeID == copy.treeID && new.userID == "u")
            #expect(new.status == .pending && new.result == nil && new.attempt == 0 && new.progress == 0 && new.startedAt == nil)
            #expect(new.originType == .copy && new.originalTaskID == old.id)
            #expect(new.parentID == old.parentID.flatMap { map[$0] })
            #expect(new.dependencies == old.dependencies.map { Dependency(id: map[$0.id]!, required: $0.required) })
            #expect(new.name == old.name && new.executor == old.executor && new.priority == old.priority)
            #expect(new.hasChildren == old.hasChildren && !new.hasReferences)
        }
        // input keys equal to old dependency ids are removed; declared inputs stay
        #expect(try copied.task(map["parse"]!).inputs == ["k": 1])
        #expect(try copied.task(map["store"]!).inputs == .object([:]))
        // the source changed only by has_references
        let after = try await keySpace(store)
        let sourceTaskKeys = Set(source.tasks.map { store.keys.task("fetch", $0.id) })
        let changedSource = changedKeys(before, after).filter { $0.contains("{t:fetch}") }
        #expect(changedSource == sourceTaskKeys)
        for task in try await store.tree("fetch", userID: "u").tasks { #expect(task.hasReferences) }
        #expect(try await events(store, copy.treeID).map(\.type) == Array(repeating: "task_created", count: 4))

        try await store.startTree(copy.treeID, userID: "u")
        #expect(try await runAll(store) == copy.taskIDs)
        let rerun = try await store.tree(copy.treeID, userID: "u")
        #expect(rerun.tree.status == "completed")
        // the same work, under the copy's ids
        #expect(try rerun.task(map["parse"]!).inputs == ["k": 1, map["fetch"]!: ["ran": .string(map["fetch"]!), "inputs": ["url": "u"]]])
        // a copy of a copy names the first original
        let second = try await store.copyTree(copy.treeID, userID: "u", ownerID: "u")
        #expect(try await store.task(second.treeID, userID: "u").originalTaskID == "fetch")
    }

    @Test func subtreeCopyPullsInItsUpstreamAndSingleCopyTakesOneTask() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions("""
            [{"id": "root", "name": "root", "executor": "x"},
             {"id": "fetch", "name": "fetch", "executor": "x", "parent_id": "root"},
             {"id": "other", "name": "other", "executor": "x", "parent_id": "root"},
             {"id": "group", "name": "group", "executor": "x", "parent_id": "root"},
             {"id": "process", "name": "process", "executor": "x", "parent_id": "group", "dependencies": ["fetch"],
              "inputs": {"fetch": "merged earlier", "mode": "fast"}},
             {"id": "report", "name": "report", "executor": "x", "parent_id": "process", "dependencies": ["process"]},
             {"id": "side", "name": "side", "executor": "x", "parent_id": "group"}]
            """), userID: "u")
        let copy = try await store.copyTree("root", userID: "u", ownerID: "u", taskID: "process")
        let tree = try await store.tree(copy.treeID, userID: "u")
        #expect(tree.tasks.map(\.name) == ["root", "fetch", "group", "process", "report"], "minimal enclosing part")
        let byName = Dictionary(uniqueKeysWithValues: tree.tasks.map { ($0.name, $0) })
        #expect(byName["root"]?.parentID == nil && copy.treeID == byName["root"]?.id)
        #expect(byName["process"]?.parentID == byName["group"]?.id)
        #expect(byName["process"]?.dependencies == [Dependency(id: byName["fetch"]!.id)])
        #expect(byName["process"]?.inputs == ["mode": "fast"])

        // below the root: the enclosing part stops at the lowest common ancestor
        let lower = try await store.copyTree("root", userID: "u", ownerID: "u", taskID: "report")
        #expect(try await store.tree(lower.treeID, userID: "u").tasks.map(\.name) == ["root", "fetch", "group", "process", "report"])
        let leaf = try await store.copyTree("root", userID: "u", ownerID: "u", taskID: "side")
        #expect(try await store.tree(leaf.treeID, userID: "u").tasks.map(\.name) == ["side"])

        let single = try await store.copyTree("root", userID: "u", ownerID: "u", taskID: "process", recursive: false)
        let one = try await store.tree(single.treeID, userID: "u")
        #expect(one.tasks.count == 1)
        #expect(one.tasks[0].parentID == nil && one.tasks[0].dependencies.isEmpty && one.tasks[0].inputs == ["mode": "fast"])
        #expect(one.tasks[0].originalTaskID == "process" && !one.tasks[0].hasChildren)

        let missing = await batonError { _ = try await store.copyTree("root", userID: "u", ownerID: "u", taskID: "nope") }
        #expect(missing?.code == .notFound && missing?.field == "task_id")
    }

    @Test func copyOverridesApplyToEveryNodeAndAreValidated() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.pipeline), userID: "u")
        let copy = try await store.copyTree("fetch", userID: "u", ownerID: "u", overrides: [
            "inputs": ["v": 2], "params": ["p": true], "priority": 0, "name": "renamed",
        ])
        for task in try await store.tree(copy.treeID, userID: "u").tasks {
            #expect(task.inputs == ["v": 2] && task.params == ["p": true] && task.priority == 0 && task.name == "renamed")
        }
        let before = try await keySpace(store)
        for (overrides, field) in [
            (JSONValue.array([]), "overrides"), (["priority": 7], "overrides.priority"), (["priority": "high"], "overrides.priority"),
            (["inputs": [1]], "overrides.inputs"), (["params": "x"], "overrides.params"), (["name": ""], "overrides.name"),
            (["user_id": "eve"], "overrides.user_id"),
        ] as [(JSONValue, String)] {
            let error = await batonError { _ = try await store.copyTree("fetch", userID: "u", ownerID: "u", overrides: overrides) }
            #expect(error?.code == .invalidArgument && error?.field == field, "\(overrides)")
        }
        expectUnchanged(before, try await keySpace(store))
    }

    @Test func copyingAnotherUsersTreeNeedsTheAdminRole() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.pipeline), userID: "alice")
        let before = try await keySpace(store)
        let foreign = await batonError { _ = try await store.copyTree("fetch", userID: "bob", ownerID: "bob") }
        #expect(foreign?.code == .notFound && foreign?.message == "Task tree fetch not found")
        let forOther = await batonError { _ = try await store.copyTree("fetch", userID: "alice", ownerID: "bob") }
        #expect(forOther?.code == .forbidden)
        expectUnchanged(before, try await keySpace(store))
        let admin = try await store.copyTree("fetch", userID: nil, ownerID: "bob")
        #expect(try await store.tree(admin.treeID, userID: "bob").tasks.allSatisfy { $0.userID == "bob" })
        #expect(try await store.listTasks(userID: "bob").tasks.count == 4)
    }

    // MARK: Link

    @Test func linksReadAsTheirOriginalsAndInjectTheirResults() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.pipeline), userID: "u")
        let unfinished = await batonError { _ = try await store.linkTree("fetch", userID: "u", ownerID: "u") }
        #expect(unfinished?.code == .conflict && unfinished?.message == "Only a fully completed task tree can be linked")
        _ = try await runAll(store)
        let source = try await store.tree("fetch", userID: "u")

        let link = try await store.linkTree("fetch", userID: "u", ownerID: "u")
        let linked = try await store.tree(link.treeID, userID: "u")
        #expect(linked.tree.status == "completed" && linked.tree.originType == "link" && linked.tree.progress == 1)
        #expect(linked.tree.counts["completed"] == 4)
        for (original, node) in zip(source.tasks, linked.tasks) {
            #expect(node.originType == .link && node.originalTaskID == original.id && node.status == .completed)
            #expect(node.result == original.result && node.inputs == original.inputs, "reads resolve to the original")
            #expect(node.id != original.id && node.treeID == link.treeID)
        }
        // link records hold no data of their own
        let raw = try await taskHash(store, link.treeID, link.taskIDs[1])
        #expect(raw["inputs"] == "{}" && raw["result"] == nil && raw["link_tree"] == "fetch")
        #expect(try await store.task(link.taskIDs[1], userID: "u").result == source.tasks[1].result)
        let events = try await events(store, link.treeID)
        #expect(events.map(\.type) == ["task_created", "task_created", "task_created", "task_created", "tree_finished"])
        #expect(events.first?.fields["status"] == "completed")

        // a link of a link points to the first original
        let second = try await store.linkTree(link.treeID, userID: "u", ownerID: "u")
        let secondTree = try await store.tree(second.treeID, userID: "u")
        #expect(secondTree.tasks.map(\.originalTaskID) == source.tasks.map(\.id))
        #expect(secondTree.tasks.map(\.result) == source.tasks.map(\.result))

        // injection: a task depending on a link receives the original's result under the link's id
        let notify = link.taskIDs[3]
        _ = try await store.submit(try submissions("""
            [{"id": "consumer", "name": "consumer", "executor": "y", "dependencies": ["\(notify)"]}]
            """), userID: "u")
        let consumer = try await runReady(store, "y")
        #expect(consumer.first?.inputs == [notify: source.tasks[3].result ?? .null])
    }

    @Test func linkingAnotherUsersTaskIsDenied() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(#"[{"id": "a", "name": "a", "executor": "x"}]"#), userID: "alice")
        try await runReady(store)
        let before = try await keySpace(store)
        let admin = await batonError { _ = try await store.linkTree("a", userID: nil, ownerID: "bob") }
        #expect(admin?.code == .forbidden && admin?.message == "Deny linking to a different user's task.")
        let bob = await batonError { _ = try await store.linkTree("a", userID: "bob", ownerID: "bob") }
        #expect(bob?.code == .notFound)
        expectUnchanged(before, try await keySpace(store))
        #expect(try await store.linkTree("a", userID: nil, ownerID: "alice").taskIDs.count == 1)
    }

    // MARK: Mixed

    @Test func mixedRunsOnlyTheCopiedPart() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.pipeline), userID: "u")
        _ = try await runAll(store)
        let source = try await store.tree("fetch", userID: "u")

        let mixed = try await store.mixedTree("fetch", userID: "u", ownerID: "u", linkTaskIDs: ["fetch", "parse"])
        let map = Dictionary(uniqueKeysWithValues: zip(source.tasks.map(\.id), mixed.taskIDs))
        let tree = try await store.tree(mixed.treeID, userID: "u")
        #expect(tree.tree.originType == "mixed" && tree.tree.status == "pending")
        #expect(tree.tasks.map(\.originType) == [.link, .link, .copy, .copy])
        #expect(tree.tasks.map(\.status) == [.completed, .completed, .pending, .pending])
        #expect(tree.tree.counts["completed"] == 2 && tree.tree.counts["pending"] == 2)

        try await store.startTree(mixed.treeID, userID: "u")
        #expect(try await runAll(store) == [map["store"]!, map["notify"]!], "only the copied part runs")
        let done = try await store.tree(mixed.treeID, userID: "u")
        #expect(done.tree.status == "completed")
        // the copy that depends on a link received the original's result under the link's id
        #expect(try done.task(map["store"]!).inputs == [map["parse"]!: source.tasks[1].result ?? .null])

        let notInTree = await batonError { _ = try await store.mixedTree("fetch", userID: "u", ownerID: "u", linkTaskIDs: ["zzz"]) }
        #expect(notInTree?.code == .invalidArgument && notInTree?.field == "link_task_ids[0]")
        _ = try await store.submit(try submissions(#"[{"id": "p", "name": "p", "executor": "q"}]"#), userID: "u")
        let notDone = await batonError { _ = try await store.mixedTree("p", userID: "u", ownerID: "u", linkTaskIDs: ["p"]) }
        #expect(notDone?.code == .conflict && notDone?.field == "link_task_ids[0]")
        let denied = await batonError { _ = try await store.mixedTree("fetch", userID: nil, ownerID: "v", linkTaskIDs: ["fetch"]) }
        #expect(denied?.message == "Deny linking to a different user's task.")
        // without links the other user's copy is allowed for an admin
        #expect(try await store.mixedTree("fetch", userID: nil, ownerID: "v", linkTaskIDs: []).taskIDs.count == 4)
    }

    // MARK: Archive

    @Test func archiveIsInPlaceAndRefusesEveryWrite() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.pipeline), userID: "u")
        let unfinished = await batonError { _ = try await store.archiveTree("fetch", userID: "u") }
        #expect(unfinished?.code == .conflict && unfinished?.message == "Only a fully completed task tree can be archived")
        _ = try await runAll(store)
        let foreign = await batonError { _ = try await store.archiveTree("fetch", userID: "eve") }
        #expect(foreign?.code == .notFound)

        let record = try await store.archiveTree("fetch", userID: "u")
        #expect(record.archived && record.originType == "archive" && record.status == "completed")
        let tree = try await store.tree("fetch", userID: "u")
        #expect(tree.tasks.allSatisfy { $0.originType == .archive && $0.status == .completed })
        #expect(try await events(store, "fetch").last?.type == "tree_archived")
        let before = try await keySpace(store)

        let immutable = "Archived task parse is immutable; copy it before editing"
        let refusals: [(String, BatonError?)] = [
            ("cancel", await batonError { _ = try await store.cancel(taskID: "parse", userID: "u") }),
            ("cancel tree", await batonError { _ = try await store.cancelTree("fetch", userID: "u") }),
            ("reexecute", await batonError { _ = try await store.reexecute(taskID: "parse", userID: "u", includeCompleted: true) }),
            ("start", await batonError { try await store.startTree("fetch", userID: "u") }),
            ("add child", await batonError {
                _ = try await store.addTask(TaskSubmission(name: "extra", executor: "x", parentID: "parse"), userID: "u", ownerID: "u")
            }),
        ]
        for (operation, error) in refusals {
            #expect(error?.code == .immutable, "\(operation): \(String(describing: error))")
        }
        #expect(refusals[0].1?.message == immutable && refusals[2].1?.message == immutable)
        expectUnchanged(before, try await keySpace(store))
        // archiving again changes nothing; a copy of an archive is a normal pending copy
        _ = try await store.archiveTree("fetch", userID: "u")
        expectUnchanged(before, try await keySpace(store))
        let copy = try await store.copyTree("fetch", userID: "u", ownerID: "u")
        let copied = try await store.tree(copy.treeID, userID: "u")
        #expect(copied.tasks.allSatisfy { $0.originType == .copy && $0.status == .pending })
        #expect(!copied.tree.archived)
    }

    @Test func archivingALinkTreeMaterialisesItsData() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.pipeline), userID: "u")
        _ = try await runAll(store)
        let source = try await store.tree("fetch", userID: "u")
        let link = try await store.linkTree("fetch", userID: "u", ownerID: "u")
        _ = try await store.archiveTree(link.treeID, userID: "u")
        let raw = try await taskHash(store, link.treeID, link.taskIDs[1])
        #expect(raw["origin_type"] == "archive" && raw["link_tree"] == nil)
        #expect(try JSONValue(parsing: raw["result"] ?? "") == source.tasks[1].result)
        #expect(try await store.task(link.taskIDs[1], userID: "u").inputs == source.tasks[1].inputs)
    }

    // MARK: Scale

    /// A 10,000-task tree (a chain: every task depends on the previous one) is copied and linked in
    /// a few round trips. The bound here is loose (debug build, shared machine); `baton-bench`
    /// measures the release build.
    @Test func copyingATenThousandTaskTreeIsQuick() async throws {
        let store = try makeStore(clock: TestClock())
        var items = [TaskSubmission(id: "n0", name: "n0", executor: "x", inputs: ["i": 0])]
        for i in 1..<10_000 {
            items.append(TaskSubmission(id: "n\(i)", name: "n\(i)", executor: "x", parentID: "n0",
                                        dependencies: [.id("n\(i - 1)")], inputs: ["i": .int(i)]))
        }
        _ = try await store.submit(items, userID: "u", execute: false)
        let start = ContinuousClock.now
        let copy = try await store.copyTree("n0", userID: "u", ownerID: "u")
        let elapsed = ContinuousClock.now - start
        #expect(copy.taskIDs.count == 10_000)
        #expect(elapsed < .seconds(10), "copy of 10,000 tasks took \(elapsed)")
        print("copy of a 10,000-task tree: \(elapsed)")
        let tree = try await store.tree(copy.treeID, userID: "u")
        #expect(tree.tasks[9_999].dependencies == [Dependency(id: tree.tasks[9_998].id)])
        #expect(tree.tree.taskCount == 10_000)
    }
}
