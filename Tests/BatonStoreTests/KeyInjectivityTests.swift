import RedisClient
import BatonCore
@testable import BatonStore
import Testing

/// SPEC "Keys are injective": no two different (namespace, tree, task, executor, user, request)
/// tuples name one Redis key, and every key of a tree keeps the tree's hash tag — checked over
/// random ids built from the pieces that broke it before (`}`, `{`, `:task:`, `:tree`, empty tags).
@Suite struct KeyInjectivityTests {
    /// Pieces random ids are glued from: the dangerous ones and a few plain ones.
    static let pieces = ["}", "{", ":task:", ":tree", ":tasks", ":events", ":", "t:", "q:", "u:", "{}", "}:", "{t:",
                         "\t", "\n", "a", "b", "ax", "P", "é", " ", "%", "baton", ":ready", "idx:", "*"]

    static func randomID(_ random: inout SplitMix64) -> String {
        (0..<Int.random(in: 1...4, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined()
    }

    @Test func idsWithBracesOrControlCharactersAreRefused() {
        for id in ["ax}:task:P", "P}:tree", "{t:x}", "a{b", "}", "a\tb", "a\nb", "", String(repeating: "x", count: 256)] {
            #expect(Identifier.problem(id) != nil, "\(id.debugDescription) must be refused")
        }
        for id in ["ax:task:P", "P:tree", "é ü", "a:b:c", "%7B", String(repeating: "x", count: 255)] {
            #expect(Identifier.problem(id) == nil, "\(id.debugDescription) must be accepted")
        }
    }

    @Test(arguments: [UInt64(1), 2, 3, 42, 2026])
    func noTwoTuplesShareAKeyAndTreeKeysShareTheirSlot(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        var ids = Set<String>()
        var refused = 0
        while ids.count < 60 {
            let id = Self.randomID(&random)
            if Identifier.isValid(id) { ids.insert(id) } else { refused += 1 }
        }
        #expect(refused > 0, "the generator must also try ids that are refused")
        let valid = Array(ids)
        var owner: [String: String] = [:]
        var collisions: [String] = []
        func claim(_ key: String, _ tuple: String) {
            if let previous = owner.updateValue(tuple, forKey: key), previous != tuple {
                collisions.append("\(key.debugDescription): \(previous) and \(tuple)")
            }
        }
        for namespace in ["baton", "b2"] {
            let keys = Keys(namespace: namespace)
            claim(keys.executorsServed, "\(namespace) executors served")
            claim(keys.allTrees, "\(namespace) all trees")
            for shard in 0..<keys.busShards { claim(keys.reports(shard: shard), "\(namespace) reports \(shard)") }
            claim(keys.busShardCount, "\(namespace) bus shards")
            claim(keys.queueShardCounts, "\(namespace) queue shards")
            claim(keys.submissions, "\(namespace) submissions")
            claim(keys.submissionResults, "\(namespace) results")
            for bucket in 0..<Keys.indexBuckets { claim(keys.idIndex(bucket: bucket), "\(namespace) index \(bucket)") }
            for a in valid {
                let treeSlot = ClusterSlot.of("{t:\(a)}")
                var treeKeys = [keys.tree(a), keys.treeTasks(a), keys.treeEvents(a)]
                claim(keys.tree(a), "\(namespace) tree \(a.debugDescription)")
                claim(keys.treeTasks(a), "\(namespace) tasks \(a.debugDescription)")
                claim(keys.treeEvents(a), "\(namespace) events \(a.debugDescription)")
                for b in valid.prefix(20) {
                    claim(keys.task(a, b), "\(namespace) task \(a.debugDescription)/\(b.debugDescription)")
                    treeKeys.append(keys.task(a, b))
                }
                for key in treeKeys {
                    #expect(ClusterSlot.of(key) == treeSlot, "\(key.debugDescription) left tree \(a.debugDescription)'s slot")
                    #expect(Self.hashTag(key) == "t:\(a)", "\(key.debugDescription) has another hash tag")
                }
                for shard in 0..<3 {
                    let queue = ExecutorQueue(executor: a, shard: shard)
                    let queueKeys = [keys.ready(queue), keys.readySequence(queue), keys.marker(queue), keys.leases(queue),
                                     keys.delayed(queue), keys.cancels(queue)]
                    for (index, key) in queueKeys.enumerated() {
                        claim(key, "\(namespace) queue key \(index) of \(a.debugDescription) shard \(shard)")
                        #expect(Self.hashTag(key) == (shard == 0 ? "q:\(a)" : "q\(shard):\(a)"))
                    }
                }
                claim(keys.userTrees(a), "\(namespace) user trees \(a.debugDescription)")
                claim(keys.idempotency(userID: a, keyDigest: "d"), "\(namespace) idempotency \(a.debugDescription)")
                #expect(Self.hashTag(keys.userTrees(a)) == "u:\(a)")
                claim(keys.submissionReply(a), "\(namespace) reply \(a.debugDescription)")
            }
        }
        #expect(collisions.isEmpty, "seed \(seed): \(collisions.prefix(5))")
    }

    /// The hash tag Redis Cluster hashes: the text between the first `{` and the next `}`, when non-empty.
    static func hashTag(_ key: String) -> String? {
        guard let open = key.firstIndex(of: "{"),
              let close = key[key.index(after: open)...].firstIndex(of: "}"),
              close > key.index(after: open)
        else { return nil }
        return String(key[key.index(after: open)..<close])
    }
}
