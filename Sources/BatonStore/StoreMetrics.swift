import Metrics

/// The store's metrics (swift-metrics; each executable bootstraps the Prometheus backend).
enum StoreMetrics {
    /// `baton_redis_script_duration_seconds{operation}`: one round trip of script calls.
    static func scriptDuration(_ operation: String) -> Metrics.Timer {
        Metrics.Timer(label: "baton_redis_script_duration_seconds", dimensions: [("operation", operation)])
    }

    /// `baton_redis_errors_total{operation}`: Redis unreachable, or an error reply of a script.
    static func redisErrors(_ operation: String) -> Counter {
        Counter(label: "baton_redis_errors_total", dimensions: [("operation", operation)])
    }
}

extension Metrics.Timer {
    // Public: the agent and scheduler time with it too.
    /// Records a `Duration`.
    public func recordInterval(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
