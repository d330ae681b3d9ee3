import BatonStore
import Metrics

/// The agent's metrics (swift-metrics; `baton-agent` bootstraps the Prometheus backend and serves
/// them on `--metrics-port`).
enum AgentMetrics {
    /// `baton_agent_tasks_claimed_total{executor}`: attempts claimed and started here.
    static func claimed(_ executor: String) -> Counter {
        claimedCounters.value(executor) { Counter(label: "baton_agent_tasks_claimed_total", dimensions: [("executor", $0)]) }
    }

    /// `baton_agent_tasks_finished_total{executor,outcome}`: attempts that ended here (completed,
    /// failed, cancelled).
    static func finished(_ executor: String, _ outcome: String) -> Counter {
        finishedCounters.value("\(outcome)\t\(executor)") { _ in
            Counter(label: "baton_agent_tasks_finished_total", dimensions: [("executor", executor), ("outcome", outcome)])
        }
    }

    /// `baton_agent_task_duration_seconds{executor}`: from start to report, whatever the outcome.
    static func duration(_ executor: String) -> Metrics.Timer {
        durations.value(executor) { Metrics.Timer(label: "baton_agent_task_duration_seconds", dimensions: [("executor", $0)]) }
    }

    /// `baton_agent_lease_losses_total{executor}`: attempts abandoned because their lease was gone.
    static func leaseLost(_ executor: String) -> Counter {
        Counter(label: "baton_agent_lease_losses_total", dimensions: [("executor", executor)])
    }

    private static let claimedCounters = MetricCache<Counter>()
    private static let finishedCounters = MetricCache<Counter>()
    private static let durations = MetricCache<Metrics.Timer>()

    /// `baton_agent_running_tasks`: attempts running now.
    static let running = Gauge(label: "baton_agent_running_tasks")

    /// `baton_agent_free_slots`: how many more it would claim now.
    static let free = Gauge(label: "baton_agent_free_slots")
}
