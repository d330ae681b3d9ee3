import Foundation

/// How long a failed task waits before its next attempt.
///
/// JSON form: `{"strategy": "fixed" | "exponential", "base_s": <seconds>}`.
public struct BackoffPolicy: Sendable, Hashable, Codable {
    /// How the delay grows from one attempt to the next.
    public enum Strategy: String, Sendable, Hashable, Codable, CaseIterable {
        /// The same delay after every attempt.
        case fixed
        /// The delay doubles after every attempt.
        case exponential
    }

    /// The longest delay, in seconds, whatever the strategy and attempt.
    public static let maxDelaySeconds: Double = 300

    /// The largest base delay a task may declare, in seconds.
    public static let maxBaseSeconds: Double = 3600

    /// How the delay grows.
    public var strategy: Strategy
    /// The delay after the first attempt, in seconds (JSON `base_s`).
    public var baseSeconds: Double

    /// Creates a policy.
    public init(strategy: Strategy, baseSeconds: Double) {
        self.strategy = strategy
        self.baseSeconds = baseSeconds
    }

    private enum CodingKeys: String, CodingKey {
        case strategy
        case baseSeconds = "base_s"
    }

    /// The delay in seconds before the attempt that follows attempt number `attempt` (1-based),
    /// capped at ``maxDelaySeconds``: `base` for `fixed`, `base · 2^(attempt−1)` for `exponential`.
    public func delay(afterAttempt attempt: Int) -> Double {
        let base = max(0, baseSeconds)
        let delay: Double
        switch strategy {
        case .fixed:
            delay = base
        case .exponential:
            let exponent = min(max(attempt, 1) - 1, 64)
            delay = base * pow(2, Double(exponent))
        }
        return min(delay, Self.maxDelaySeconds)
    }

    /// The policy as a JSON object `{"strategy", "base_s"}`.
    public var jsonValue: JSONValue {
        .object(["strategy": .string(strategy.rawValue), "base_s": .double(baseSeconds)])
    }
}
