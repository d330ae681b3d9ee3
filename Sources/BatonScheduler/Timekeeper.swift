import BatonStore
import Logging
import ServiceLifecycle

/// Starts the trees submitted with `run_at` when their time comes (``BatonStore/fireDueTimers(limit:)``),
/// looking every ``SchedulerSettings/timerIntervalMillis``. Every scheduler runs one: a tree started
/// twice queues nothing twice, and a scheduler that was down fires what came due meanwhile when it
/// is back (another one already did, if any was running).
struct Timekeeper: Service {
    let store: BatonStore
    let settings: SchedulerSettings
    let logger: Logger

    func run() async throws {
        var failing = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                // Many due at once: go on without waiting until none is left.
                while try await store.fireDueTimers(limit: 100) == 100 {}
                failing = false
            } catch {
                if !failing { logger.warning("starting due trees failed; retrying", metadata: ["baton.error": "\(error)"]) }
                failing = true
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(settings.timerIntervalMillis)) }
        }
    }
}
