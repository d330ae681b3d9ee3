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
        #expect(Keys.bucket(of: "foo") == 12182 % 64)  // CRC16("foo") = 0xAF96; mod 16384 = 12182, and 64 divides 16384
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

    /// A named call and its keys.
    struct Call: CustomStringConvertible {
        var name: String
        var keys: [String]
        var description: String { "\(name) \(keys)" }
    }

    /// Queue shards of the sample executor types: shard 0 and two more (`queue_shards: 3`).
    static func queues(_ keys: Keys) -> [ExecutorQueue] { executors.flatMap(keys.queues(of:)) }

    /// Every script call the store can make, built by the scripts' own key builders (the only
    /// place the store takes a call's keys from), over sample ids, plus the multi-key commands.
    static func calls(_ keys: Keys) -> [Call] {
        var calls: [Call] = []
        for tree in treeIDs {
            for script in TreeScript.allCases {
                calls.append(Call(name: "\(script)(\(tree))", keys: script.keys(keys, tree: tree)))
            }
            for script in TreeRecordScript.allCases {
                calls.append(Call(name: "\(script)(\(tree))", keys: script.keys(keys, tree: tree)))
            }
        }
        for queue in queues(keys) {
            for script in QueueScript.allCases {
                calls.append(Call(name: "\(script)(\(queue))", keys: script.keys(keys, queue: queue)))
            }
        }
        for bucket in 0..<Keys.indexBuckets {
            for script in IndexScript.allCases {
                calls.append(Call(name: "\(script)(\(bucket))", keys: script.keys(keys, bucket: bucket)))
            }
        }
        for schedule in treeIDs {
            for script in ScheduleScript.allCases {
                calls.append(Call(name: "\(script)(\(schedule))", keys: script.keys(keys, schedule: schedule)))
            }
        }
        // Multi-key commands outside scripts.
        // A scheduler's bus reads on a cluster: one per slot of the bus streams.
        for streams in Dictionary(grouping: keys.busStreams, by: ClusterSlot.of).values {
            calls.append(Call(name: "XREADGROUP \(streams)", keys: streams))
        }
        return calls
    }

    /// The number of `KEYS` each script's builder gives, by script name.
    static func keyCounts(_ keys: Keys) -> [String: Int] {
        var counts: [String: Int] = [:]
        for script in TreeScript.allCases { counts[script.rawValue] = script.keys(keys, tree: "t").count }
        for script in TreeRecordScript.allCases { counts[script.rawValue] = script.keys(keys, tree: "t").count }
        for script in QueueScript.allCases { counts[script.rawValue] = script.keys(keys, queue: ExecutorQueue(executor: "x")).count }
        for script in IndexScript.allCases { counts[script.rawValue] = script.keys(keys, bucket: 0).count }
        for script in ScheduleScript.allCases { counts[script.rawValue] = script.keys(keys, schedule: "s").count }
        return counts
    }

    @Test(arguments: namespaces)
    func everyScriptCallStaysInOneSlot(namespace: String) {
        let keys = Keys(namespace: namespace, queueShards: Dictionary(uniqueKeysWithValues: Self.executors.map { ($0, 3) }))
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
        for script in [TreeScript.submitTree.script, TreeScript.startTree.script, TreeScript.startTasks.script, TreeScript.applyReports.script,
                       TreeScript.resolveDependency.script, TreeRecordScript.watchDependency.script] {
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
        #expect(Set(files) == Set(Scripts.names.map { $0 + ".lua" } + ["include.lua", "queue.lua"]), "every Lua file has a script case, and back")
        let builtKeys = Self.keyCounts(Keys())
        let keysIndex = /KEYS\[(\d+)\]/
        let tag = /\{([a-z]+):/
        for file in files where file != "include.lua" && file != "queue.lua" {
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
            let name = String(file.dropLast(4))
            #expect(builtKeys[name] == declared, "\(file) declares \(declared) KEYS, its builder gives \(builtKeys[name].map(String.init) ?? "none")")
            for literal in ["{t:", "{q:", "{idx:", "{u:", "{bus}"] {
                #expect(!code.contains(literal), "\(file) builds a key with \(literal) itself")
            }
            // queue.lua derives a shard's other keys from the tag of KEYS[1] (its code is checked
            // with the scripts it is prepended to: none builds a tagged name itself).
            if code.contains("string.sub(KEYS[1]") {
                #expect(code.contains("string.sub(KEYS[1], 1, -5) .. 'task:'"), "\(file) derives keys differently")
            }
        }
    }

    /// The store's own calls take their keys from the script builders checked above, and a
    /// sharded executor type's tasks go to the shard ``Keys/queue(_:tree:task:)`` names.
    @Test func storeCallsUseTheScriptsKeys() throws {
        let keys = Keys(namespace: "mirror", queueShards: ["rest_executor": 4])
        let store = BatonStore(redis: try RedisClient(url: "redis://127.0.0.1:1/0"), keys: keys, clock: { 0 })
        for tree in Self.treeIDs {
            let call = store.treeCall(.applyReports, tree, now: 42, ["x"])
            #expect(call.keys == TreeScript.applyReports.keys(keys, tree: tree))
            #expect(call.arguments.prefix(4) == ["42", String(store.eventsMaxLength), keys.treeChannel(tree), tree])
        }
        let ready = Self.executors.flatMap { executor in
            Self.taskIDs.map { TreeOutputs.Ready(treeID: "t", taskID: $0, executor: executor, priority: 1) }
        }
        let enqueues = store.enqueueCalls(ready)
        let queues = Set(ready.map { keys.queue($0.executor, tree: $0.treeID, task: $0.taskID) })
        #expect(enqueues.count == queues.count)
        #expect(queues.filter { $0.executor == "rest_executor" }.count > 1, "the sample tasks spread over the shards")
        var queued = 0
        for queue in queues {
            let call = try #require(enqueues.first { $0.keys == QueueScript.enqueue.keys(keys, queue: queue) }, "enqueue on \(queue)")
            // d = 0 ended attempts, c = 0 to claim, now, lease; then (priority, user, key, member)
            let members = stride(from: 7, to: call.arguments.count, by: 4).map { call.arguments[$0] }
            #expect(call.arguments.prefix(2) == ["0", "0"])
            for member in members { #expect(keys.queue(queue.executor, member: member) == queue) }
            queued += members.count
        }
        #expect(queued == ready.count)
    }

    @Test func queueShardsHaveTheirOwnTags() {
        let keys = Keys(queueShards: ["hot": 3, "cold": 1])
        #expect(keys.queues(of: "hot").map(keys.ready) == ["baton:{q:hot}:ready", "baton:{q1:hot}:ready", "baton:{q2:hot}:ready"])
        #expect(keys.queues(of: "cold") == [ExecutorQueue(executor: "cold")])
        #expect(keys.queueShards == ["hot": 3], "a count of 1 is the default and is not recorded")
        #expect(keys.cancelChannel(ExecutorQueue(executor: "hot", shard: 2)) == "baton:{q2:hot}:cancel")
        // A shard's tag differs from any executor type's shard 0: `q2:` cannot start a type's tag `q:<type>`.
        #expect(ClusterSlot.of(keys.ready(ExecutorQueue(executor: "hot", shard: 2))) == ClusterSlot.of("{q2:hot}"))
        let slots = Set(keys.queues(of: "hot").map { ClusterSlot.of(keys.ready($0)) })
        #expect(slots.count == 3)
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
