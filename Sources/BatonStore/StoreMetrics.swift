import Metrics
import Synchronization

/// The store's metrics (swift-metrics; each executable bootstraps the Prometheus backend). The
/// metric objects are made once per label value and kept: making one goes through the backend's
/// registry lock and name checks, which a call on every round trip should not pay.
enum StoreMetrics {
    /// `baton_redis_script_duration_seconds{operation}`: one round trip of script calls.
    static func scriptDuration(_ operation: String) -> Metrics.Timer {
        timers.value(operation) { Metrics.Timer(label: "baton_redis_script_duration_seconds", dimensions: [("operation", $0)]) }
    }

    /// `baton_redis_errors_total{operation}`: Redis unreachable, or an error reply of a script.
    static func redisErrors(_ operation: String) -> Counter {
        counters.value(operation) { Counter(label: "baton_redis_errors_total", dimensions: [("operation", $0)]) }
    }

    private static let timers = MetricCache<Metrics.Timer>()
    private static let counters = MetricCache<Counter>()
}

/// Metric objects by label value, made on first use.
public final class MetricCache<Metric: Sendable>: Sendable {
    private let metrics = Mutex<[String: Metric]>([:])

    public init() {}

    /// The metric for `label`, made by `make` the first time.
    public func value(_ label: String, make: (String) -> Metric) -> Metric {
        metrics.withLock { metrics in
            if let metric = metrics[label] { return metric }
            let metric = make(label)
            metrics[label] = metric
            return metric
        }
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
