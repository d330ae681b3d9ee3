import BatonStore
import Logging
import ServiceLifecycle

/// Starts the trees submitted with `run_at` and fires the schedules when their time comes
/// (``BatonStore/fireDueTimers(limit:)``), looking every ``SchedulerSettings/timerIntervalMillis``
/// and, when the earliest timer is due sooner, waking at that very time. Every scheduler runs one: a tree started
/// twice queues nothing twice, and a scheduler that was down fires what came due meanwhile when it
/// is back (another one already did, if any was running).
struct Timekeeper: Service {
    let store: BatonStore
    let settings: SchedulerSettings
    let logger: Logger

    func run() async throws {
        var failing = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            var pause = Int64(settings.timerIntervalMillis)
            do {
                // One read while nothing is due; the earliest timer sets the wake-up.
                if let due = try await store.nextTimerDue() {
                    if due <= store.clock() {
                        // Many due at once: go on without waiting until none is left.
                        var handled = try await store.fireDueTimers(limit: 100)
                        while handled == 100 { handled = try await store.fireDueTimers(limit: 100) }
                        failing = false
                        if handled > 0 { continue }
                    } else {
                        pause = max(1, min(pause, due - store.clock()))
                    }
                }
                failing = false
            } catch {
                if !failing { logger.warning("firing due timers failed; retrying", metadata: ["baton.error": "\(error)"]) }
                failing = true
            }
            let wait = pause
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(wait)) }
        }
    }
}
