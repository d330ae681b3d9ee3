import BatonCore
@testable import BatonStore
import Foundation
import RedisClient
import Testing

/// Cluster slots (pure): the CRC16 against values Redis itself computes (`CLUSTER KEYSLOT`), and
/// ARCHITECTURE invariant 1 — every script call's keys live in one slot.
@Suite struct SlotTests {
    // MARK: ClusterSlot against Redis

    @Test(arguments: [
        ("foo", 12182),
        ("bar", 5061),
        ("123456789", 12739),  // the CRC16/XMODEM check value 0x31C3
        ("", 0),
        ("{user1000}.following", 3443),
        ("{user1000}.followers", 3443),
        ("foo{bar}{zap}", 5061),  // only the first tag counts: hashes "bar"
        ("foo{}{bar}", 8363),  // empty first tag: the whole key is hashed
        ("foo{{bar}}zap", 4015),  // hashes "{bar"
        ("{bar", 4015),
        ("{}", 15257),
        ("x{}}", 15984),
        ("a{b}", 3300),
        ("ü ñ\tx", 13020),
        ("baton:{t:ü ñ\tx}:tree", 4680),
    ])
    func slotMatchesRedis(key: String, slot: Int) {
        #expect(ClusterSlot.of(key) == slot, "CLUSTER KEYSLOT \(key)")
    }

    @Test func hashTagsGroupKeys() {
        #expect(ClusterSlot.of("{user1000}.following") == ClusterSlot.of("{user1000}.followers"))
        #expect(ClusterSlot.of("foo{{bar}}zap") == ClusterSlot.of("{bar"))
        #expect(ClusterSlot.of("foo{}{bar}") != ClusterSlot.of("bar"))
        #expect(ClusterSlot.of("foo{bar}{zap}") == ClusterSlot.of("bar"))
    }

    @Test func indexBucketIsCRC16ModuloBuckets() {
        #expect(Keys.indexBuckets == 64)
        #expect(Keys.bucket(of: "123456789") == 0x31C3 % 64)
        #expect(Keys.bucket(of: "foo") == 12182 % 64)  // 12182 < 16384: the slot is the CRC itself
        for id in ["a", "task-1", "ünï", "a}b", String(repeating: "x", count: 255)] {
            #expect((0..<64).contains(Keys.bucket(of: id)))
            #expect(Keys().idIndex(for: id) == Keys().idIndex(bucket: Keys.bucket(of: id)))
        }
    }

    // MARK: Invariant 1: one slot per script call

    static let namespaces = ["baton", "test-1a2b3c4d", "my-app/prod", "ns:with:colons"]  // braces and spaces are refused: see namespaceWithBracesOrSpacesIsRefused
    static let treeIDs = ["root", "ünï cødé ✓", "a}b", "{x}", "}", "{", "with:colon", "tab\tinside", "f1e2d3c4-0000-4000-8000-000000000000"]
    static let taskIDs = ["t", "child}", "{y}", "üñ", "task:with:colons", "a b c", String(repeating: "z", count: 255)]
    static let executors = ["rest_executor", "command executor", "a}b", "{q}", "ünï", "x{"]

    /// A named call and its keys, built exactly as `BatonStore+*.swift` build them.
    struct Call: CustomStringConvertible {
        var name: String
        var keys: [String]
        var description: String { "\(name) \(keys)" }
    }

    /// Every multi-key call the store makes, mirrored from the sources.
    static func calls(_ keys: Keys) -> [Call] {
        var calls: [Call] = []
        for tree in treeIDs {
            let treeKeys = [keys.tree(tree), keys.treeTasks(tree), keys.treeEvents(tree)]
            for script in ["submitTree", "startTree", "startTasks", "applyReports", "resolveDependency",
                           "addTask", "cancelTasks", "reexecuteTask", "archiveTree"] {
                calls.append(Call(name: "\(script)(\(tree))", keys: treeKeys))
            }
            calls.append(Call(name: "watchDependency(\(tree))", keys: [keys.tree(tree)]))
            calls.append(Call(name: "markReferences(\(tree))", keys: [keys.tree(tree)]))
        }
        for executor in executors {
            calls.append(Call(name: "enqueue(\(executor))",
                              keys: [keys.ready(executor), keys.readySequence(executor), keys.marker(executor),
                                     keys.leases(executor), keys.cancels(executor)]))
            calls.append(Call(name: "claimQueue(\(executor))",
                              keys: [keys.ready(executor), keys.marker(executor), keys.leases(executor)]))
            calls.append(Call(name: "promoteDelayed(\(executor))",
                              keys: [keys.delayed(executor), keys.ready(executor), keys.readySequence(executor), keys.marker(executor)]))
            calls.append(Call(name: "requestCancel(\(executor))", keys: [keys.leases(executor), keys.cancels(executor)]))
        }
        for bucket in 0..<Keys.indexBuckets {
            calls.append(Call(name: "reserveIDs/releaseIDs(\(bucket))",
                              keys: [keys.idIndex(bucket: bucket), keys.idReservations(bucket: bucket)]))
        }
        // Multi-key commands outside scripts.
        // A scheduler's bus reads on a cluster: one per slot of the bus streams.
        for streams in Dictionary(grouping: keys.busStreams, by: ClusterSlot.of).values {
            calls.append(Call(name: "XREADGROUP \(streams)", keys: streams))
        }
        return calls
    }

    @Test(arguments: namespaces)
    func everyScriptCallStaysInOneSlot(namespace: String) {
        let keys = Keys(namespace: namespace)
        for call in Self.calls(keys) {
            let slots = Set(call.keys.map(ClusterSlot.of))
            #expect(slots.count == 1, "\(call) spans slots \(slots.sorted())")
        }
    }

    /// Tree scripts reach task hashes by deriving their keys from KEYS[1]: they must land on the
    /// tree's slot, and the derivation must be the one ``Keys`` uses.
    @Test(arguments: namespaces)
    func derivedTaskKeysShareTheTreeSlot(namespace: String) {
        let keys = Keys(namespace: namespace)
        for tree in Self.treeIDs {
            let treeKey = keys.tree(tree)
            // Lua: string.sub(KEYS[1], 1, -5) .. 'task:' (byte-wise: drop the trailing "tree").
            let luaPrefix = String(decoding: Array(treeKey.utf8).dropLast(4), as: UTF8.self) + "task:"
            #expect(luaPrefix == keys.taskPrefix(tree))
            let slot = ClusterSlot.of(treeKey)
            for task in Self.taskIDs + Self.treeIDs {
                #expect(keys.task(tree, task) == luaPrefix + task)
                #expect(ClusterSlot.of(keys.task(tree, task)) == slot, "task \(task) of tree \(tree)")
            }
        }
    }

    /// The emulation above is only worth something if the scripts derive task keys that way.
    @Test func scriptsDeriveTaskKeysFromTheTreeKey() {
        let derivation = "string.sub(KEYS[1], 1, -5) .. 'task:'"
        for script in [Scripts.submitTree, Scripts.startTree, Scripts.startTasks, Scripts.applyReports,
                       Scripts.resolveDependency, Scripts.watchDependency] {
            #expect(script.source.contains(derivation), "\(script.name) derives task keys differently")
            #expect(!script.source.contains("KEYS[4]"), "\(script.name) uses an undeclared KEYS slot")
        }
        #expect(Keys().tree("x").hasSuffix(":tree"))
    }

    /// Every script in `Lua/` (new ones included) declares keys of one hash tag in its header,
    /// uses no KEYS index beyond those, and builds no tagged key name of its own.
    @Test func everyScriptHeaderDeclaresOneTag() throws {
        let directory = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/BatonStore/Lua")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".lua") }.sorted()
        #expect(files.count >= 11)
        let keysIndex = /KEYS\[(\d+)\]/
        let tag = /\{([a-z]+):/
        for file in files where file != "include.lua" {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let header = lines.prefix { $0.hasPrefix("--") }
            let code = lines.filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("--") }.joined(separator: "\n")
            let keyLines = header.filter { $0.contains("KEYS[") }
            #expect(!keyLines.isEmpty, "\(file) does not declare its KEYS in its header")
            var tags = Set<String>()
            var declared = 0
            for line in keyLines {
                if line.contains("include.lua") && line.contains("KEYS[1..3]") {
                    tags.insert("t")
                    declared = max(declared, 3)
                }
                for match in line.matches(of: tag) { tags.insert(String(match.1)) }
                for match in line.matches(of: keysIndex) { declared = max(declared, Int(match.1) ?? 0) }
            }
            #expect(tags.count == 1, "\(file) declares keys of tags \(tags.sorted())")
            let used = code.matches(of: keysIndex).compactMap { Int($0.1) }.max() ?? 0
            #expect(used <= declared, "\(file) uses KEYS[\(used)] but declares \(declared)")
            for literal in ["{t:", "{q:", "{idx:", "{u:", "{bus}"] {
                #expect(!code.contains(literal), "\(file) builds a key with \(literal) itself")
            }
            if code.contains("string.sub(KEYS[1]") {
                #expect(code.contains("string.sub(KEYS[1], 1, -5) .. 'task:'"), "\(file) derives keys differently")
            }
        }
    }

    /// The store's own call builders (internal) produce the keys mirrored in ``calls(_:)``.
    @Test func storeBuildsTheMirroredKeys() throws {
        let keys = Keys(namespace: "mirror")
        let store = BatonStore(redis: try RedisClient(url: "redis://127.0.0.1:1/0"), keys: keys, clock: { 0 })
        for tree in Self.treeIDs {
            let call = store.treeCall(Scripts.applyReports, tree, now: 42, ["x"])
            #expect(call.keys == [keys.tree(tree), keys.treeTasks(tree), keys.treeEvents(tree)])
            #expect(call.arguments.prefix(4) == ["42", String(store.eventsMaxLength), keys.treeChannel(tree), tree])
            #expect(Set(call.keys.map(ClusterSlot.of)).count == 1)
        }
        let ready = Self.executors.flatMap { executor in
            Self.taskIDs.map { TreeOutputs.Ready(treeID: "t", taskID: $0, executor: executor, priority: 1) }
        }
        let enqueues = store.enqueueCalls(ready)
        #expect(enqueues.count == Self.executors.count)
        for call in enqueues {
            #expect(Set(call.keys.map(ClusterSlot.of)).count == 1, "enqueue \(call.keys)")
            #expect(call.arguments.count == 1 + Self.taskIDs.count * 2 && call.arguments.first == "0")
        }
    }

    // MARK: Namespaces

    /// A namespace holding a brace would swallow or break the hash tags (an empty `{}` makes
    /// Redis hash whole keys, so a tree's keys scatter over slots): such namespaces are refused.
    @Test(arguments: ["a{}b", "{}", "x{y}", "a}b", "", "has space"])
    func namespaceWithBracesOrSpacesIsRefused(namespace: String) {
        #expect(throws: BatonError.self) { try Keys.validate(namespace: namespace) }
    }

    @Test(arguments: ["baton", "test-1a2b", "prod:eu"])
    func ordinaryNamespacesKeepEachTreeOnOneSlot(namespace: String) throws {
        try Keys.validate(namespace: namespace)
        let keys = Keys(namespace: namespace)
        let slots = Set([keys.tree("t"), keys.treeTasks("t"), keys.treeEvents("t"), keys.task("t", "x{y}")].map(ClusterSlot.of))
        #expect(slots.count == 1)
    }

    /// Different trees and queues spread over slots (the tag is not swallowed by the namespace).
    @Test func treesAndQueuesSpreadOverSlots() {
        let keys = Keys()
        let treeSlots = Set((0..<200).map { ClusterSlot.of(keys.tree("tree-\($0)")) })
        #expect(treeSlots.count > 150)
        let indexSlots = Set((0..<Keys.indexBuckets).map { ClusterSlot.of(keys.idIndex(bucket: $0)) })
        #expect(indexSlots.count == Keys.indexBuckets)
        #expect(ClusterSlot.of(keys.ready("a")) != ClusterSlot.of(keys.ready("b")))
    }
}
