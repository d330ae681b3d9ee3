import Foundation
import RedisClient
import Synchronization
import Testing

/// A failure raised by the test helpers, with a message that says what to do about it.
struct TestSetupError: Error, CustomStringConvertible {
    let description: String
}

/// The Redis the suite runs against: `BATON_REDIS_URL`, set by `scripts/test`.
enum TestRedis {
    /// The URL of the shared test Redis; throws (failing the test) when it is not set.
    static func url() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["BATON_REDIS_URL"], !url.isEmpty else {
            throw TestSetupError(description: """
                BATON_REDIS_URL is not set: run the suite with scripts/test, or start a Redis \
                (scripts/dev-redis) and export BATON_REDIS_URL=redis://127.0.0.1:PORT/0
                """)
        }
        return url
    }

    /// The configuration parsed from ``url()``.
    static func configuration() throws -> RedisConfiguration {
        try RedisConfiguration(url: url())
    }

    /// Host and port of the shared test Redis (it must listen on TCP).
    static func hostAndPort() throws -> (host: String, port: Int) {
        guard case .tcp(let host, let port) = try configuration().endpoint else {
            throw TestSetupError(description: "BATON_REDIS_URL must be a redis:// URL for this test")
        }
        return (host, port)
    }

    /// A client of the shared test Redis.
    static func client(poolSize: Int = 2) throws -> RedisClient {
        RedisClient(configuration: try configuration(), poolSize: poolSize)
    }

    /// A key prefix no other test uses.
    static func prefix(_ function: String = #function) -> String {
        "rct:\(function.prefix { $0 != "(" }):\(UUID().uuidString)"
    }
}

/// Polls `condition` every 10 ms until it holds; throws once `timeout` has passed.
func waitUntil(
    _ what: String,
    timeout: Duration = .seconds(10),
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return }
        if ContinuousClock.now >= deadline {
            throw TestSetupError(description: "timed out after \(timeout) waiting for \(what)")
        }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// One line of `CLIENT LIST`, as its `key=value` fields.
typealias ClientEntry = [String: String]

extension RedisClient {
    /// Every connection Redis knows about.
    func clientList() async throws -> [ClientEntry] {
        let text = try await send("CLIENT", "LIST").string ?? ""
        return text.split(whereSeparator: \.isNewline).map { line in
            var fields: ClientEntry = [:]
            for pair in line.split(separator: " ") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
            }
            return fields
        }
    }

    /// The connection named `name` (`CLIENT SETNAME`), if there is one.
    func client(named name: String) async throws -> ClientEntry? {
        try await clientList().first { $0["name"] == name }
    }

    /// Waits until the connection named `name` is blocked in `command` (e.g. `bzpopmin`).
    func waitUntilBlocked(_ name: String, in command: String) async throws {
        try await waitUntil("\(name) to block in \(command)") {
            guard let entry = try await client(named: name) else { return false }
            return entry["cmd"] == command && entry["flags"]?.contains("b") == true
        }
    }
}

/// Runs `body` while a child task records every event of `subscriber`.
func withRecordedEvents<T: Sendable>(
    of subscriber: RedisSubscriber,
    _ body: (EventRecorder) async throws -> T
) async throws -> T {
    try await withRecordedEvents(of: subscriber.events, body)
}

/// Runs `body` while a child task records every event of a sharded `subscriber`.
func withRecordedEvents<T: Sendable>(
    of subscriber: RedisShardedSubscriber,
    _ body: (EventRecorder) async throws -> T
) async throws -> T {
    try await withRecordedEvents(of: subscriber.events, body)
}

private func withRecordedEvents<T: Sendable>(
    of events: AsyncStream<RedisPubSubEvent>,
    _ body: (EventRecorder) async throws -> T
) async throws -> T {
    let recorder = EventRecorder()
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            for await event in events { recorder.append(event) }
        }
        defer { group.cancelAll() }
        return try await body(recorder)
    }
}

/// Every event a subscriber delivered so far, for tests that wait for one with a deadline.
final class EventRecorder: Sendable {
    private let recorded = Mutex<[RedisPubSubEvent]>([])

    func append(_ event: RedisPubSubEvent) {
        recorded.withLock { $0.append(event) }
    }

    var events: [RedisPubSubEvent] { recorded.withLock { $0 } }

    var messages: [RedisPubSubMessage] {
        events.compactMap { if case .message(let message) = $0 { message } else { nil } }
    }

    var resubscriptions: Int {
        events.count { $0 == .resubscribed }
    }

    /// Waits until a message satisfying `predicate` arrived, and returns it.
    @discardableResult
    func waitForMessage(
        timeout: Duration = .seconds(10),
        where predicate: (RedisPubSubMessage) -> Bool
    ) async throws -> RedisPubSubMessage {
        var found: RedisPubSubMessage?
        try await waitUntil("a pub/sub message", timeout: timeout) {
            found = messages.first(where: predicate)
            return found != nil
        }
        return found!
    }
}
