import BatonCore
import Foundation
import Logging
import RedisClient
import Testing

@testable import BatonAgent
@testable import BatonStore

/// The reporter of an agent that applies its own reports, on the test Redis.
@Suite struct ReporterTests {
    /// A report whose tree a script refuses (its event stream key holds a string) is logged and
    /// dropped — it is on the bus for the schedulers — instead of being sent again for ever, which
    /// would hold up every later report of the agent.
    @Test func aRefusedReportDoesNotHoldUpTheNextOnes() async throws {
        let endpoint = try testRedisEndpoint()
        let redis = RedisClient(configuration: RedisConfiguration(endpoint: .tcp(host: endpoint.host, port: endpoint.port)))
        defer { redis.close() }
        let store = BatonStore(redis: redis, keys: Keys(namespace: "reporter-test-\(UUID().uuidString)"))
        for tree in ["broken", "fine"] {
            _ = try await store.submit(
                try TaskSubmission.decode(array: try JSONValue(parsing: #"[{"id": "\#(tree)", "name": "t", "executor": "x"}]"#)),
                userID: "u")
        }
        let queue = ExecutorQueue(executor: "x")
        let started = try await store.start(try await store.claim(queue, count: 2, leaseMillis: 10_000), from: queue)
        #expect(started.count == 2)
        _ = try await redis.send("DEL", store.keys.treeEvents("broken"))
        _ = try await redis.send("SET", store.keys.treeEvents("broken"), "not a stream")

        let reporter = Reporter(
            store: store, logger: Logger(label: "baton.reporter.test"),
            claiming: Reporter.Claiming(
                running: RunningTasks(capacity: 4), executorTypes: ["x"], leaseMillis: 10_000, deliver: { _ in }))
        let sent = Task {
            for task in started.sorted(by: { $0.taskID < $1.taskID }) {  // "broken" first
                _ = await reporter.sendNow(.completed(task, result: 1), of: "x")
            }
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while try await store.task("fine", userID: nil).status != .completed {
            #expect(ContinuousClock.now < deadline, "the refused report held up the next one")
            if ContinuousClock.now >= deadline { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        sent.cancel()
        #expect(try await store.task("broken", userID: nil).status == .inProgress)
    }
}
