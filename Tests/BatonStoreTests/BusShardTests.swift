import BatonCore
@testable import BatonStore
import Foundation
import RedisClient
import Testing

/// Issue 10, item 4: reports go to `bus.shards` streams, a tree's always to the same one; every
/// service of a namespace must agree on the count; a scheduler reads each slot on its own.
@Suite struct BusShardTests {
    @Test func aTreesReportsAlwaysGoToItsShard() async throws {
        let store = try makeStore()
        let trees = (0..<64).map { "tree-\($0)" }
        let reports = trees.flatMap { tree in
            (1...3).map { Report(kind: .progress, treeID: tree, taskID: "t", attempt: 1, data: "0.\($0)") }
        }
        try await store.publish(reports)
        var seen: [String: [String]] = [:]  // stream -> trees, in order
        for stream in store.keys.allReports {
            for entry in try await store.redis.send("XRANGE", stream, "-", "+").array ?? [] {
                let fields = (entry.array?.last?.array ?? []).compactMap(\.string)
                for index in stride(from: 0, to: fields.count - 1, by: 2) where fields[index] == "tree" {
                    seen[stream, default: []].append(fields[index + 1])
                }
            }
        }
        #expect(seen.values.reduce(0) { $0 + $1.count } == reports.count, "every report is on some shard")
        #expect(seen.count > 8, "64 trees spread over the 16 shards, got \(seen.count)")
        for (stream, treeIDs) in seen {
            for tree in Set(treeIDs) {
                #expect(store.keys.reports(ofTree: tree) == stream, "\(tree) reported on \(stream)")
                #expect(treeIDs.filter { $0 == tree }.count == 3, "all of \(tree)'s reports together")
            }
        }
        // The same tree, the same shard, whatever the count of reports.
        #expect(store.keys.reports(ofTree: "tree-7") == store.keys.reports(ofTree: "tree-7"))
        #expect(Set(store.keys.allReports).count == 16 && store.keys.busStreams.last == store.keys.submissions)
    }

    @Test func servicesOfANamespaceMustAgreeOnTheShardCount() async throws {
        let first = try makeStore()
        try await first.checkBusShards()
        try await first.checkBusShards()  // idempotent
        #expect(try await first.redis.send("GET", first.keys.busShardCount).string == "16")
        let other = BatonStore(redis: first.redis, keys: Keys(namespace: first.keys.namespace, busShards: 8))
        let error = await #expect(throws: BatonError.self) { try await other.checkBusShards() }
        #expect(error?.code == .conflict && error?.field == "bus.shards", "\(String(describing: error))")
        #expect(error?.message.contains("16") == true && error?.message.contains("8") == true)
        #expect(try await first.redis.send("GET", first.keys.busShardCount).string == "16", "nothing changed")
    }

    @Test func aSchedulerReadsEachSlotOnItsOwnOnACluster() async throws {
        let store = try makeStore()
        let groups = try await store.busReadGroups()
        #expect(Set(groups.flatMap { $0 }) == Set(store.keys.busStreams))
        if try await store.redis.isCluster() {
            for group in groups { #expect(Set(group.map(ClusterSlot.of)).count == 1, "\(group)") }
        } else {
            #expect(groups.count == 1, "one read for every stream on a standalone server")
        }
        // Reading and acknowledging works across the groups.
        try await store.createSchedulerGroup()
        try await store.publish([Report(kind: .progress, treeID: "r1", taskID: "t", attempt: 1, data: "0.5"),
                                 Report(kind: .progress, treeID: "r2", taskID: "t", attempt: 1, data: "0.5")])
        var read: [BusEntry] = []
        for streams in groups {
            let connection = store.redis.makeBlockingConnection()
            defer { connection.close() }
            read += try await store.readBus(streams, on: connection, consumer: "c", count: 10, blockMillis: 100, pending: false)
        }
        #expect(read.count == 2 || (read.count == 1 && store.keys.reports(ofTree: "r1") == store.keys.reports(ofTree: "r2")))
        try await store.acknowledge(read)
        for stream in store.keys.allReports {
            #expect(try await store.redis.send("XLEN", stream).int == 0)
        }
    }
}
