import BatonCore
@testable import BatonStore
import Foundation
import RedisClient
import Testing

/// "A refused write changes nothing" (issue 8, item 3): for every Lua transition, a conflicting
/// key is planted where the script will look (a key of the wrong type, a leftover task hash, a
/// stream at its last id, a queue counter that is not a number), the transition is run — through
/// the public store API where that is what reaches the script, else as the store's own script
/// call — and the refusal must be a coded 4xx ``BatonError`` while the whole key space of the
/// test's namespace stays byte-identical (``KeySpaceSnapshot``).
@Suite struct ScriptRefusalTests {
    /// What to plant at a key.
    enum Plant: String, Sendable, CaseIterable, CustomTestStringConvertible {
        case string, hash, zset, list, stream
        var testDescription: String { rawValue }

        /// Replaces whatever `key` holds with a value of this type.
        func put(_ store: BatonStore, _ key: String) async throws {
            _ = try await store.redis.send("DEL", key)
            let command: RedisCommand = switch self {
            case .string: RedisCommand("SET", key, "planted")
            // the leftover an attacker wants adopted: a task hash with its own limits
            case .hash: RedisCommand("HSET", key, "params", #"{"evil":1}"#, "max_attempts", "100", "timeout_s", "1")
            case .zset: RedisCommand("ZADD", key, "1", "planted")
            case .list: RedisCommand("RPUSH", key, "planted")
            case .stream: RedisCommand("XADD", key, "1-1", "type", "planted")
            }
            _ = try await store.redis.send(command)
        }
    }

    /// Runs `body`, which must be refused with `code` (a 4xx, its message naming `naming` and free
    /// of Redis's script location), and checks that no key of the namespace changed.
    func expectRefused(
        _ store: BatonStore, _ code: BatonError.Code, naming text: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
    ) async throws {
        let before = try await KeySpaceSnapshot(store)
        let error = await batonError(body)
        #expect(error?.code == code, "refused with \(String(describing: error))", sourceLocation: sourceLocation)
        if let error {
            #expect((400..<500).contains(error.httpStatus), sourceLocation: sourceLocation)
            #expect(!error.message.contains("script:") && !error.message.contains("user_script"),
                    "message '\(error.message)'", sourceLocation: sourceLocation)
            if let text {
                #expect(error.message.contains(text), "message '\(error.message)'", sourceLocation: sourceLocation)
            }
        }
        try await expectKeySpace(store, unchangedSince: before, sourceLocation: sourceLocation)
    }

    /// One script call as the store makes it, with the store's error mapping.
    func call(_ store: BatonStore, _ script: RedisScript, keys: [String], _ arguments: [String]) async throws {
        _ = try await store.run([RedisScriptCall(script, keys: keys, arguments: arguments)], operation: "test")
    }

    /// A tree call as the store makes it (`KEYS[1..3]`, the shared `ARGV[1..4]`).
    func treeCall(_ store: BatonStore, _ script: TreeScript, _ treeID: String, _ arguments: [String]) async throws {
        _ = try await store.run([store.treeCall(script, treeID, now: store.clock(), arguments)], operation: "test")
    }

    static let pair = #"""
        [{"id": "a", "name": "a", "executor": "x"},
         {"id": "b", "name": "b", "executor": "x", "dependencies": ["a"]}]
        """#

    // MARK: submitTree (and reserveIDs, releaseIDs)

    /// The attack of the issue: a task key left behind (here planted) under an id of a later
    /// tree. Whatever its type, the submission is refused and nothing of it is stored, so the
    /// leftover's params, max_attempts and timeout_s are never adopted.
    @Test(arguments: Plant.allCases)
    func submitRefusesAnExistingTaskKey(_ plant: Plant) async throws {
        let store = try makeStore(clock: TestClock())
        try await plant.put(store, store.keys.task("a", "b"))
        try await expectRefused(store, .alreadyExists, naming: "'b'") {
            _ = try await store.submit(try submissions(Self.pair), userID: "u")
        }
    }

    @Test(arguments: [("tasks", Plant.zset), ("tasks", .string), ("events", .stream), ("events", .hash), ("tree", .string), ("tree", .list)])
    func submitRefusesLeftoverOrForeignTreeKeys(_ which: String, _ plant: Plant) async throws {
        let store = try makeStore(clock: TestClock())
        let key = switch which {
        case "tasks": store.keys.treeTasks("a")
        case "events": store.keys.treeEvents("a")
        default: store.keys.tree("a")
        }
        try await plant.put(store, key)
        try await expectRefused(store, .conflict, naming: "'a'") {
            _ = try await store.submit(try submissions(Self.pair), userID: "u")
        }
    }

    /// A tree record without its fields (an earlier partial write) is a taken tree id too.
    @Test func submitRefusesAPartialTreeRecord() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.redis.send("HSET", store.keys.tree("a"), "user_id", "mallory")
        try await expectRefused(store, .alreadyExists, naming: "a") {
            _ = try await store.submit(try submissions(Self.pair), userID: "u")
        }
    }

    /// reserveIDs refuses a bucket that is not a hash; the buckets it already reserved for the
    /// other ids are given back, so the index is as it was.
    @Test func submitRefusesAnIdIndexBucketOfAnotherType() async throws {
        let store = try makeStore(clock: TestClock())
        let ids = ["a", "b", "c", "d"]
        let buckets = Set(ids.map(Keys.bucket(of:)))
        #expect(buckets.count > 1)
        try await Plant.string.put(store, store.keys.idIndex(for: "d"))
        try await expectRefused(store, .conflict, naming: "index") {
            _ = try await store.submit(try submissions(#"""
                [{"id": "a", "name": "a", "executor": "x"}, {"id": "b", "name": "b", "executor": "x"},
                 {"id": "c", "name": "c", "executor": "x"}, {"id": "d", "name": "d", "executor": "x"}]
                """#), userID: "u")
        }
    }

    @Test func releaseIDsRefusesABucketOfAnotherType() async throws {
        let store = try makeStore(clock: TestClock())
        let bucket = store.keys.idIndex(for: "a")
        try await Plant.zset.put(store, bucket)
        try await expectRefused(store, .conflict, naming: "index") {
            try await call(store, IndexScript.releaseIDs.script, keys: [bucket, store.keys.idReservations(bucket: Keys.bucket(of: "a"))], ["a", "", "a"])
        }
    }

    /// The copy path stores through the same submitTree call; its source side is markReferences.
    @Test func markReferencesRefusesATaskKeyOfAnotherType() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.pair), userID: "u", execute: false)
        try await Plant.string.put(store, store.keys.task("a", "b"))
        try await expectRefused(store, .conflict, naming: "'b'") {
            try await call(store, TreeRecordScript.markReferences.script, keys: [store.keys.tree("a")], ["a", "b"])
        }
    }

    // MARK: addTask

    static func child(_ id: String, dependencies: String = "[]") throws -> TaskSubmission {
        try TaskSubmission(jsonValue: try JSONValue(parsing: #"""
            {"id": "\#(id)", "name": "\#(id)", "parent_id": "a", "executor": "x", "dependencies": \#(dependencies)}
            """#), path: "")
    }

    @Test(arguments: Plant.allCases)
    func addTaskRefusesAnExistingKeyForTheNewTask(_ plant: Plant) async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.pair), userID: "u")
        try await plant.put(store, store.keys.task("a", "n"))
        try await expectRefused(store, .alreadyExists, naming: "'n'") {
            _ = try await store.addTask(try Self.child("n"), userID: "u", ownerID: "u")
        }
    }

    @Test func addTaskRefusesAParentOrDependencyKeyOfAnotherType() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.pair), userID: "u")
        try await Plant.string.put(store, store.keys.task("a", "b"))
        try await expectRefused(store, .conflict, naming: "'b'") {
            _ = try await store.addTask(try Self.child("n", dependencies: #"["b"]"#), userID: "u", ownerID: "u")
        }
        try await Plant.list.put(store, store.keys.task("a", "a"))
        try await expectRefused(store, .conflict, naming: "'a'") {
            _ = try await store.addTask(try Self.child("m"), userID: "u", ownerID: "u")
        }
    }

    @Test func addTaskRefusesAnEventStreamOfAnotherType() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.pair), userID: "u")
        try await Plant.hash.put(store, store.keys.treeEvents("a"))
        try await expectRefused(store, .conflict, naming: "event stream") {
            _ = try await store.addTask(try Self.child("n"), userID: "u", ownerID: "u")
        }
    }

    // MARK: startTree

    /// The first write (started=1) would come before the tasks are read: they are read first.
    @Test func startTreeRefusesATaskKeyOfAnotherTypeBeforeMarkingTheTreeStarted() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.pair), userID: "u", execute: false)
        try await Plant.zset.put(store, store.keys.task("a", "b"))
        try await expectRefused(store, .conflict, naming: "'b'") {
            try await store.startTree("a", userID: "u")
        }
        #expect(try await hash(store, store.keys.tree("a"))["started"] == "0")
    }

    /// XADD with `*` fails on a stream whose last id is the largest there is.
    @Test func startTreeRefusesAnEventStreamAtItsLastId() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.pair), userID: "u", execute: false)
        _ = try await store.redis.send("XADD", store.keys.treeEvents("a"), "18446744073709551615-18446744073709551615", "type", "planted")
        try await expectRefused(store, .conflict, naming: "last possible id") {
            try await store.startTree("a", userID: "u")
        }
    }

    // MARK: startTasks, applyReports, resolveDependency, watchDependency

    @Test func startTasksRefusesTheWholeCallForATaskKeyOfAnotherType() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.pair), userID: "u")
        let claimed = try await store.claim(executor: "x", count: 10, leaseMillis: 10_000)
        #expect(claimed.map(\.taskID) == ["a"])
        try await Plant.string.put(store, store.keys.task("a", "ghost"))
        try await expectRefused(store, .conflict, naming: "'ghost'") {
            _ = try await store.start(claimed + [("a", "ghost")], executor: "x")
        }
    }

    /// A batch holding one report for a foreign key is refused whole: the valid completion in
    /// the same batch is not applied either (it is applied when the batch comes again without it).
    @Test func applyReportsRefusesTheWholeBatchForATaskKeyOfAnotherType() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.pair), userID: "u")
        let started = try await claimAndStart(store, executor: "x")
        try await Plant.list.put(store, store.keys.task("a", "ghost"))
        let ghost = Report(kind: .completed, treeID: "a", taskID: "ghost", attempt: 1, data: "1")
        try await expectRefused(store, .conflict, naming: "'ghost'") {
            try await store.apply([Report.completed(started[0], result: 1), ghost])
        }
        #expect(try await taskHash(store, "a", "a")["status"] == "in_progress")
    }

    /// startTasks reads every task before its first write; an id given twice is started once.
    @Test func startTasksStartsARepeatedIdOnce() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.pair), userID: "u")
        let claimed = try await store.claim(executor: "x", count: 10, leaseMillis: 10_000)
        let started = try await store.start(claimed + claimed, executor: "x")
        #expect(started.map(\.taskID) == ["a"] && started.first?.attempt == 1)
        #expect(try await taskHash(store, "a", "a")["attempt"] == "1")
    }

    /// After the first write nothing may fail: a dependent found in `dependents` whose key was
    /// replaced by something else is not a task any more, and is left alone.
    @Test func applyReportsLeavesAForeignDependentKeyAlone() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.pair), userID: "u")
        let started = try await claimAndStart(store, executor: "x")
        try await Plant.string.put(store, store.keys.task("a", "b"))
        try await store.apply([Report.completed(started[0], result: 1)])
        #expect(try await taskHash(store, "a", "a")["status"] == "completed")
        #expect(try await store.redis.send("GET", store.keys.task("a", "b")).string == "planted")
        #expect(try await members(store, store.keys.ready("x")).isEmpty)
    }

    @Test func applyReportsRefusesAForeignTreeRecord() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.pair), userID: "u")
        let started = try await claimAndStart(store, executor: "x")
        try await Plant.string.put(store, store.keys.tree("a"))
        try await expectRefused(store, .conflict, naming: "Task tree 'a'") {
            try await store.apply([Report.completed(started[0], result: 1)])
        }
    }

    @Test func resolveDependencyRefusesATaskKeyOfAnotherType() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.pair), userID: "u")
        try await Plant.zset.put(store, store.keys.task("a", "ghost"))
        var outputs = TreeOutputs()
        outputs.notifications = [
            .init(treeID: "a", taskID: "b", required: true, dependencyID: "z", state: "completed", result: "1", cause: "z"),
            .init(treeID: "a", taskID: "ghost", required: true, dependencyID: "z", state: "failed", result: "null", cause: "z"),
        ]
        try await expectRefused(store, .conflict, naming: "'ghost'") {
            try await store.dispatch(outputs, now: store.clock())
        }
    }

    @Test func watchDependencyRefusesADependencyKeyOfAnotherType() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.pair), userID: "u")
        try await Plant.string.put(store, store.keys.task("a", "b"))
        try await expectRefused(store, .conflict, naming: "'b'") {
            try await call(store, TreeRecordScript.watchDependency.script, keys: [store.keys.tree("a")], ["b", "other", "t", "1"])
        }
    }

    // MARK: cancelTasks, reexecuteTask, archiveTree

    @Test func cancelTaskRefusesATaskKeyOfAnotherType() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.pair), userID: "u")
        _ = try await store.redis.send("HSET", store.keys.idIndex(for: "ghost"), "ghost", "a")
        try await Plant.string.put(store, store.keys.task("a", "ghost"))
        try await expectRefused(store, .conflict, naming: "'ghost'") {
            _ = try await store.cancel(taskID: "ghost", userID: "u")
        }
    }

    /// Tree mode would mark a stored tree started before cancelling: every task is checked first.
    @Test func cancelTreeRefusesATaskKeyOfAnotherTypeBeforeAnyWrite() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.pair), userID: "u", execute: false)
        try await Plant.string.put(store, store.keys.task("a", "b"))
        try await expectRefused(store, .conflict, naming: "'b'") {
            _ = try await store.cancelTree("a", userID: "u")
        }
    }

    @Test func cancelRefusesAnUnknownMode() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.pair), userID: "u", execute: false)
        try await expectRefused(store, .invalidArgument) {
            try await treeCall(store, .cancelTasks, "a", ["1", "someone else", "m", "", ""])
        }
    }

    /// The reset set is collected (reading every task it reaches) before the first reset.
    @Test func reexecuteRefusesADependentKeyOfAnotherType() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.pair), userID: "u")
        let started = try await claimAndStart(store, executor: "x")
        try await store.apply([Report.failed(started[0], error: "boom")])
        try await Plant.string.put(store, store.keys.task("a", "b"))
        try await expectRefused(store, .conflict, naming: "'b'") {
            _ = try await store.reexecute(taskID: "a", userID: "u")
        }
        try await Plant.hash.put(store, store.keys.task("a", "b"))
        try await Plant.list.put(store, store.keys.task("a", "a"))
        try await expectRefused(store, .conflict, naming: "'a'") {
            _ = try await store.reexecute(taskID: "a", userID: "u")
        }
    }

    @Test func archiveRefusesATaskKeyOfAnotherType() async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(#"[{"id": "a", "name": "a", "executor": "x"}, {"id": "b", "name": "b", "executor": "x"}]"#), userID: "u")
        let started = try await claimAndStart(store, executor: "x")
        try await store.apply(started.map { Report.completed($0, result: 1) })
        #expect(try await hash(store, store.keys.tree("a"))["status"] == "completed")
        try await Plant.string.put(store, store.keys.task("a", "b"))
        try await expectRefused(store, .conflict, naming: "'b'") {
            _ = try await store.archiveTree("a", userID: "u")
        }
    }

    // MARK: Queue scripts: enqueue, claimQueue, promoteDelayed, requestCancel

    static let queueKeys: [(String, Plant)] = [
        ("ready", .string), ("seq", .hash), ("marker", .list), ("leases", .string), ("cancels", .zset),
    ]

    @Test(arguments: queueKeys.map(\.0))
    func enqueueRefusesAQueueKeyOfAnotherType(_ which: String) async throws {
        let store = try makeStore(clock: TestClock())
        let keys = store.keys
        let key = switch which {
        case "ready": keys.ready("x")
        case "seq": keys.readySequence("x")
        case "marker": keys.marker("x")
        case "leases": keys.leases("x")
        default: keys.cancels("x")
        }
        _ = try await store.redis.send("ZADD", keys.leases("x"), "5", "t\told")
        _ = try await store.redis.send("HSET", keys.cancels("x"), "t\told", "1")
        try await Self.queueKeys.first { $0.0 == which }!.1.put(store, key)
        let ready = [TreeOutputs.Ready(treeID: "t", taskID: "new", executor: "x", priority: 1)]
        let ended = [TreeOutputs.Lease(treeID: "t", taskID: "old", executor: "x")]
        try await expectRefused(store, .conflict, naming: key) {
            _ = try await store.run(store.enqueueCalls(ready, ending: ended), operation: "dispatch")
        }
    }

    @Test(arguments: ["abc", "01", "1.5", "99999999999999999999", ""])
    func enqueueAndPromoteRefuseASequenceThatIsNotACounter(_ value: String) async throws {
        let store = try makeStore(clock: TestClock())
        let keys = store.keys
        _ = try await store.redis.send("SET", keys.readySequence("x"), value)
        _ = try await store.redis.send("ZADD", keys.delayed("x"), "1", "2\tt\tlate")
        try await expectRefused(store, .conflict, naming: "sequence") {
            _ = try await store.run(store.enqueueCalls([.init(treeID: "t", taskID: "n", executor: "x", priority: 1)]), operation: "dispatch")
        }
        try await expectRefused(store, .conflict, naming: "sequence") {
            try await store.promoteDelayed(executors: ["x"])
        }
    }

    @Test(arguments: ["marker", "leases", "ready"])
    func claimRefusesAQueueKeyOfAnotherTypeWithoutPopping(_ which: String) async throws {
        let store = try makeStore(clock: TestClock())
        _ = try await store.submit(try submissions(Self.pair), userID: "u")
        let keys = store.keys
        let key = switch which {
        case "marker": keys.marker("x")
        case "leases": keys.leases("x")
        default: keys.ready("x")
        }
        if which == "ready" {
            try await Plant.hash.put(store, key)
        } else {
            try await Plant.string.put(store, key)
        }
        try await expectRefused(store, .conflict, naming: key) {
            _ = try await store.claim(executor: "x", count: 10, leaseMillis: 10_000)
        }
    }

    @Test(arguments: ["delayed", "ready", "marker"])
    func promoteRefusesAQueueKeyOfAnotherType(_ which: String) async throws {
        let store = try makeStore(clock: TestClock())
        let keys = store.keys
        _ = try await store.redis.send("ZADD", keys.delayed("x"), "1", "2\tt\tlate")
        let key = switch which {
        case "delayed": keys.delayed("x")
        case "ready": keys.ready("x")
        default: keys.marker("x")
        }
        try await Plant.stream.put(store, key)
        try await expectRefused(store, .conflict, naming: key) {
            try await store.promoteDelayed(executors: ["x"])
        }
    }

    @Test func promoteRefusesAMalformedDelayedMember() async throws {
        let store = try makeStore(clock: TestClock())
        let keys = store.keys
        _ = try await store.redis.send("ZADD", keys.delayed("x"), "1", "2\tt\tlate", "2", "no-tab-here")
        try await expectRefused(store, .conflict, naming: "no-tab-here") {
            try await store.promoteDelayed(executors: ["x"])
        }
    }

    @Test(arguments: ["leases", "cancels"])
    func requestCancelRefusesAQueueKeyOfAnotherType(_ which: String) async throws {
        let store = try makeStore(clock: TestClock())
        let keys = store.keys
        _ = try await store.redis.send("ZADD", keys.leases("x"), "5", "t\trun")
        let key = which == "leases" ? keys.leases("x") : keys.cancels("x")
        try await Plant.string.put(store, key)
        try await expectRefused(store, .conflict, naming: key) {
            try await call(store, QueueScript.requestCancel.script, keys: [keys.leases("x"), keys.cancels("x")], ["", "t\trun", "1"])
        }
    }

    // MARK: Error mapping

    /// A refusal raised with Lua's error() (inside include.lua's helpers) carries Redis's script
    /// location; the store's error drops it and keeps the code.
    @Test func refusalsRaisedInHelpersKeepTheirCodeAndAPlainMessage() throws {
        let raised = "BATON conflict Task 'b': its key holds a string, not a hash "
            + "script: 3f2a9c0d6e1b2a3c4d5e6f708192a3b4c5d6e7f8, on @user_script:41."
        let error = try #require(BatonError(scriptError: raised))
        #expect(error.code == .conflict && error.httpStatus == 409)
        #expect(error.message == "Task 'b': its key holds a string, not a hash")
        let unrelated = try #require(BatonError(scriptError: "BATON conflict a message that quotes script: itself"))
        #expect(unrelated.message == "a message that quotes script: itself")
    }
}
