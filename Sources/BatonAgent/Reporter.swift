import BatonStore
import Logging
import Synchronization

/// Sends reports to the schedulers in batches: whatever accumulates while one XADD is in flight
/// goes out in the next one. A report is retried until Redis takes it.
final class Reporter: Sendable {
    private let store: BatonStore
    private let logger: Logger
    private let buffer = Mutex<[Report]>([])
    private let signals: AsyncStream<Void>
    private let signal: AsyncStream<Void>.Continuation

    init(store: BatonStore, logger: Logger) {
        self.store = store
        self.logger = logger
        (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Attempts that ended here lately, for the agent's record (``AgentRecord/lastMinute``).
    let outcomes = RecentOutcomes()

    /// Queues a report; one that ends an attempt of `executor` is counted in ``outcomes``.
    func send(_ report: Report, of executor: String? = nil) {
        buffer.withLock { $0.append(report) }
        signal.yield()
        if let executor, [.completed, .failed, .cancelled].contains(report.kind) {
            outcomes.record(executor, report.kind.rawValue)
            AgentMetrics.finished(executor, report.kind.rawValue).increment()
        }
    }

    /// Stops after sending what is left.
    func finish() { signal.finish() }

    /// The sending loop; returns after ``finish()`` once the buffer is empty.
    ///
    /// Cancellation (the agent's task group is cancelled right after a shutdown drain) only
    /// finishes the loop: the sending runs in a task of its own, so the reports sent before,
    /// such as the hand-backs of the drain, still reach Redis. (Cancelled, `publish` would throw
    /// at once and the retry loop would spin forever, keeping the agent from exiting.)
    func run() async {
        let sending = Task {
            for await _ in signals { await flush() }
            await flush()
        }
        await withTaskCancellationHandler {
            await sending.value
        } onCancel: {
            finish()
        }
    }

    private func flush() async {
        var backoff = RetryBackoff()
        while true {
            let batch = buffer.withLock { reports -> [Report] in
                let taken = reports
                reports.removeAll(keepingCapacity: true)
                return taken
            }
            if batch.isEmpty { return }
            while true {
                do {
                    try await store.publish(batch)
                    break
                } catch {
                    logger.warning("cannot send reports; retrying", metadata: ["baton.error": "\(error)"])
                    try? await backoff.wait()
                }
            }
        }
    }
}
