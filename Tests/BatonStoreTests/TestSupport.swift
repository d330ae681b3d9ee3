import BatonCore
import BatonStore
import Foundation
import RedisClient
import Synchronization
import Testing

/// The Redis the test command started (`BATON_REDIS_URL`).
func testRedisURL() throws -> String {
    guard let url = ProcessInfo.processInfo.environment["BATON_REDIS_URL"] else {
        Issue.record("BATON_REDIS_URL is not set: run the tests with ./scripts/test")
        throw RedisError.invalidConfiguration("BATON_REDIS_URL is not set")
    }
    return url
}

/// A settable clock for deterministic transitions.
final class TestClock: Sendable {
    private let value: Mutex<Int64>
    init(_ start: Int64 = 1_800_000_000_000) { value = Mutex(start) }
    var now: Int64 { value.withLock { $0 } }
    func advance(milliseconds: Int64) { value.withLock { $0 += milliseconds } }
}

/// A store on its own key namespace, so tests run in parallel without touching each other.
func makeStore(clock: TestClock? = nil) throws -> BatonStore {
    let redis = try RedisClient(url: try testRedisURL())
    let namespace = "test-\(UUID().uuidString.prefix(8).lowercased())"
    if let clock {
        return BatonStore(redis: redis, keys: Keys(namespace: namespace), clock: { clock.now })
    }
    return BatonStore(redis: redis, keys: Keys(namespace: namespace))
}

/// Decodes a JSON array literal into submissions.
func submissions(_ json: String) throws -> [TaskSubmission] {
    try TaskSubmission.decode(data: Data(json.utf8))
}
