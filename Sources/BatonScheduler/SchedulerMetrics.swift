import BatonStore
import Logging
import Metrics
import ServiceLifecycle

/// The scheduler's metrics (swift-metrics; `baton-scheduler` bootstraps the Prometheus backend
/// and serves them on `--metrics-port`).
enum SchedulerMetrics {
    /// `baton_scheduler_reports_applied_total{kind}`: agents' reports applied.
    static func applied(_ kind: String) -> Counter {
        appliedCounters.value(kind) { Counter(label: "baton_scheduler_reports_applied_total", dimensions: [("kind", $0)]) }
    }

    private static let appliedCounters = MetricCache<Counter>()

    /// `baton_scheduler_leases_expired_total{executor}`: leases that ran out (the task is requeued
    /// or, past its lease-loss limit, failed).
    static func leasesExpired(_ executor: String) -> Counter {
        Counter(label: "baton_scheduler_leases_expired_total", dimensions: [("executor", executor)])
    }

    /// `baton_scheduler_orphans_requeued_total`: tasks in progress without a lease, queued again.
    static let orphans = Counter(label: "baton_scheduler_orphans_requeued_total")
}

/// Samples the queues and the bus every few seconds into gauges: per executor type the ready
/// tasks by priority (`baton_queue_ready_tasks{executor,priority}`), running and delayed tasks,
/// the oldest ready task's age, live agents and free slots; the bus's pending entries and lag.
struct QueueGauges: Service {
    let store: BatonStore
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await sample()
            } catch {
                logger.debug("sampling queue gauges failed", metadata: ["baton.error": "\(error)"])
            }
            // A stopping scheduler does not wait out the interval.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    func sample() async throws {
        for summary in try await store.executorSummaries() {
            let executor = ("executor", summary.executor)
            for (priority, count) in summary.ready.enumerated() {
                Gauge(label: "baton_queue_ready_tasks", dimensions: [executor, ("priority", String(priority))]).record(count)
            }
            Gauge(label: "baton_queue_running_tasks", dimensions: [executor]).record(summary.running)
            Gauge(label: "baton_queue_delayed_tasks", dimensions: [executor]).record(summary.delayed)
            Gauge(label: "baton_queue_oldest_ready_age_seconds", dimensions: [executor])
                .record(Double(summary.oldestReadyAgeMillis ?? 0) / 1000)
            Gauge(label: "baton_executor_agents", dimensions: [executor]).record(summary.agents)
            Gauge(label: "baton_executor_free_slots", dimensions: [executor]).record(summary.freeSlots)
            Gauge(label: "baton_queue_held_tasks", dimensions: [executor]).record(summary.admission.held)
            Gauge(label: "baton_queue_throttled_claims", dimensions: [executor]).record(summary.admission.throttledClaims)
        }
        let backlog = try await store.busBacklog()
        Gauge(label: "baton_bus_pending_entries").record(backlog.pending)
        Gauge(label: "baton_bus_lag_entries").record(backlog.lag)
    }
}
