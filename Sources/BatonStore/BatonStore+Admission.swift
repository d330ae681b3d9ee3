import BatonCore
import RedisClient

/// What a queue admits at claim time: the executor type's limits and the users' fairness
/// weights (`queue.lua`). The schedulers publish it from the configuration
/// (`executors.<type>.max_running`, `max_running_per_key`, `fairness.weights`).
public struct QueueAdmission: Sendable, Hashable {
    /// The most tasks of the type leased at once across all agents; `nil`: no limit.
    public var maxRunning: Int?
    /// The most leased tasks of one `concurrency_key`; `nil`: no limit.
    public var maxRunningPerKey: Int?
    /// How fast tasks of the type may start across all agents; `nil`: no limit.
    public var rateLimit: RateLimit?
    /// How fast tasks of one `concurrency_key` may start; `nil`: no limit.
    public var rateLimitPerKey: RateLimit?
    /// Weight per user (users left out weigh 1).
    public var weights: [String: Int]

    public init(
        maxRunning: Int? = nil, maxRunningPerKey: Int? = nil, rateLimit: RateLimit? = nil, rateLimitPerKey: RateLimit? = nil,
        weights: [String: Int] = [:]
    ) {
        self.maxRunning = maxRunning
        self.maxRunningPerKey = maxRunningPerKey
        self.rateLimit = rateLimit
        self.rateLimitPerKey = rateLimitPerKey
        self.weights = weights
    }
}

/// `tasks` starts per `intervalSeconds`, at most `burst` at once after a quiet spell (GCRA in
/// `queue.lua`: one task per interval / tasks).
public struct RateLimit: Sendable, Hashable {
    public var tasks: Int
    public var intervalSeconds: Double
    public var burst: Int

    public init(tasks: Int, intervalSeconds: Double = 1, burst: Int = 1) {
        self.tasks = tasks
        self.intervalSeconds = intervalSeconds
        self.burst = burst
    }

    /// Milliseconds between two starts at the steady rate.
    public var emissionMillis: Double { intervalSeconds * 1000 / Double(tasks) }
}

/// An executor type's limits as published, and how much of them is in use now.
public struct AdmissionState: Sendable, Hashable {
    public var maxRunning: Int?
    public var maxRunningPerKey: Int?
    /// Tasks leased now (claimed or running), over every shard.
    public var running: Int
    /// Tasks held back because their concurrency key is at its limit.
    public var held: Int
    /// Claims a limit held back since the queue was created (a counter).
    public var throttledClaims: Int

    public var jsonValue: JSONValue {
        [
            "max_running": maxRunning.map(JSONValue.int) ?? .null,
            "max_running_per_key": maxRunningPerKey.map(JSONValue.int) ?? .null,
            "running": .int(running), "held": .int(held), "throttled_claims": .int(throttledClaims),
        ]
    }
}

extension BatonStore {
    /// Publishes each executor type's admission to every shard of its queue (one round trip).
    /// A type whose limits were removed must be published with none, so its old ones go.
    public func publishAdmission(_ admissions: [String: QueueAdmission]) async throws {
        let calls = admissions.sorted(by: { $0.key < $1.key }).flatMap { executor, admission in
            keys.queues(of: executor).map { ScriptCall.admitQueue($0, keys: keys, admission: admission) }
        }
        if calls.isEmpty { return }
        _ = try await run(calls, operation: "admission")
    }

    /// The published limits of `executor` and their use now, over every queue shard.
    public func admissionState(of executor: String) async throws -> AdmissionState {
        var state = AdmissionState(running: 0, held: 0, throttledClaims: 0)
        for queue in keys.queues(of: executor) {
            let replies = try await redis.pipeline([
                RedisCommand("HMGET", keys.admission(queue), "max_running", "max_running_per_key", "throttled"),
                RedisCommand("ZCARD", keys.leases(queue)),
                RedisCommand("SMEMBERS", keys.heldKeys(queue)),
            ])
            let fields = replies[0].array?.map { $0.string.flatMap { Int($0) } } ?? []
            if fields.count == 3 {
                state.maxRunning = fields[0] ?? state.maxRunning
                state.maxRunningPerKey = fields[1] ?? state.maxRunningPerKey
                state.throttledClaims += fields[2] ?? 0
            }
            state.running += replies[1].int ?? 0
            let heldKeys = (replies[2].array ?? []).compactMap(\.string)
            if !heldKeys.isEmpty {
                let counts = try await redis.pipeline(heldKeys.map { RedisCommand("ZCARD", keys.held(queue, key: $0)) })
                state.held += counts.reduce(0) { $0 + ($1.int ?? 0) }
            }
        }
        return state
    }
}
