import BatonStore
import Logging
import ServiceLifecycle

/// Publishes the configured limits and fairness weights to the queues (`admitQueue.lua`) when the
/// scheduler starts and every ``SchedulerSettings/admissionIntervalMillis``: the queue scripts
/// enforce what Redis holds, so every agent (in any language) claims within the same limits. The
/// types published are those configured with limits and those agents serve (they get the weights,
/// and lose limits removed from the configuration). Every scheduler publishes the same values.
struct AdmissionPublisher: Service {
    let store: BatonStore
    let settings: SchedulerSettings
    let logger: Logger

    func run() async throws {
        var failing = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await publish()
                failing = false
            } catch {
                // Redis unreachable or refusing: the queues keep the last published admission.
                if !failing { logger.warning("publishing admission failed", metadata: ["baton.error": "\(error)"]) }
                failing = true
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(settings.admissionIntervalMillis)) }
        }
    }

    func publish() async throws {
        var admissions: [String: QueueAdmission] = [:]
        for executor in try await store.executorTypes() { admissions[executor] = QueueAdmission() }
        for (executor, admission) in settings.admission { admissions[executor] = admission }
        for executor in admissions.keys { admissions[executor]?.weights = settings.fairnessWeights }
        try await store.publishAdmission(admissions)
    }
}
