import BatonCore
import BatonStore
import Logging
import Synchronization

/// Sends reports in batches: whatever accumulates while one batch is in flight goes out in the
/// next one. A report is retried until Redis takes it.
///
/// With ``Claiming`` (the agent's default) the agent applies its own reports
/// (``BatonStore/applyOwn(_:leaseMillis:claimable:)``): each batch goes to the bus and is applied
/// in one round trip, then its outputs are dispatched, and tasks it released that this agent
/// runs are claimed in the same script call, into slots reserved for them, and started here —
/// a chain's next step starts three round trips after the previous one ended, with no scheduler
/// or queue wake-up in between. A batch of more than ``Claiming/maxOwnBatch`` reports (a flood)
/// goes to the bus for the schedulers instead. Without ``Claiming``, every batch does.
final class Reporter: Sendable {
    /// How the reporter claims the tasks its reports release.
    struct Claiming: Sendable {
        let running: RunningTasks
        /// The executor types this agent runs: only their queues are claimed from.
        let executorTypes: Set<String>
        let leaseMillis: Int
        /// Takes the attempts started here (already counted in `running`) to be run.
        let deliver: @Sendable ([TaskControl]) -> Void
        /// A batch larger than this goes to the bus only, for the schedulers: under a flood of
        /// reports their large batches cost Redis less per report than many small own applies,
        /// and the round trips an own apply saves matter little behind a queue.
        var maxOwnBatch = 16
    }

    private let store: BatonStore
    private let logger: Logger
    private let claiming: Claiming?
    /// Reports waiting to be sent, and whether some task is sending (one at a time, so a tree's
    /// reports reach Redis in the order they were made).
    private let pending = Mutex<(reports: [Report], sending: Bool)>(([], false))
    private let signals: AsyncStream<Void>
    private let signal: AsyncStream<Void>.Continuation

    init(store: BatonStore, logger: Logger, claiming: Claiming? = nil) {
        self.store = store
        self.logger = logger
        self.claiming = claiming
        (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Attempts that ended here lately, for the agent's record (``AgentRecord/lastMinute``).
    let outcomes = RecentOutcomes()

    /// Queues a report for the sending loop; one that ends an attempt of `executor` is counted
    /// in ``outcomes``.
    func send(_ report: Report, of executor: String? = nil) {
        pending.withLock { $0.reports.append(report) }
        signal.yield()
        count(report, of: executor)
    }

    /// Sends the report that ended an attempt from the attempt's own task: when nothing is being
    /// sent, this task sends it (with whatever else waits) at once instead of waking the sending
    /// loop, and returns the attempts its reports released that this agent claimed and started
    /// (the caller runs them); else the report joins the batch in flight's successor.
    func sendNow(_ report: Report, of executor: String) async -> [TaskControl] {
        count(report, of: executor)
        let sender = pending.withLock { state -> Bool in
            state.reports.append(report)
            if state.sending { return false }
            state.sending = true
            return true
        }
        if !sender {
            signal.yield()
            return []
        }
        return await sendAll()
    }

    /// Gives attempts started here to the agent's loop that runs them.
    func deliver(_ controls: [TaskControl]) {
        if !controls.isEmpty { claiming?.deliver(controls) }
    }

    private func count(_ report: Report, of executor: String?) {
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

    /// The sending loop's turn: sends what waits unless another task is sending (it sends what
    /// was queued meanwhile before it stops).
    private func flush() async {
        let sender = pending.withLock { state -> Bool in
            if state.sending || state.reports.isEmpty { return false }
            state.sending = true
            return true
        }
        if sender { deliver(await sendAll()) }
    }

    /// Sends batch after batch until nothing waits, then stops being the sender (under the same
    /// lock as the check, so a report queued meanwhile is never left without a sender).
    private func sendAll() async -> [TaskControl] {
        var started: [TaskControl] = []
        while let batch = pending.withLock({ state -> [Report]? in
            if state.reports.isEmpty {
                state.sending = false
                return nil
            }
            defer { state.reports.removeAll(keepingCapacity: true) }
            return state.reports
        }) {
            var backoff = RetryBackoff()
            while true {
                do {
                    if let claiming, batch.count <= claiming.maxOwnBatch {
                        started += try await applyOwn(batch, claiming)
                    } else {
                        try await store.publish(batch)
                    }
                    break
                } catch {
                    if Task.isCancelled {
                        // An attempt's task cancelled at shutdown: the sending loop (never
                        // cancelled) takes the batch over instead of this task spinning.
                        pending.withLock { state in
                            state.reports.insert(contentsOf: batch, at: 0)
                            state.sending = false
                        }
                        signal.yield()
                        return started
                    }
                    logger.warning("cannot send reports; retrying", metadata: ["baton.error": "\(error)"])
                    try? await backoff.wait()
                }
            }
        }
        return started
    }

    /// Publishes and applies `batch`, claims into reserved slots what it released, and starts it.
    /// A failure to reach Redis leaves nothing half done (the batch is sent again; applying it
    /// again is a no-op that redoes the dispatch); the slots reserved are given back either way.
    /// A refusal (a tree whose keys a script will not touch, or a queue's) is logged, not sent
    /// again: it would be refused for ever and hold up every later report.
    private func applyOwn(_ batch: [Report], _ claiming: Claiming) async throws -> [TaskControl] {
        let running = claiming.running
        var reserved: [ExecutorQueue: Int] = [:]
        let applied: OwnApply
        do {
            applied = try await store.applyOwn(batch, leaseMillis: claiming.leaseMillis) { released in
                for (queue, count) in released where claiming.executorTypes.contains(queue.executor) {
                    let slots = await running.reserve(upTo: count)
                    if slots > 0 { reserved[queue] = slots }
                }
                return reserved
            }
        } catch let refused as BatonError where refused.code != .unavailable {
            await running.unreserve(reserved.values.reduce(0, +))
            logger.error("reports refused", metadata: ["baton.error": "\(refused)"])
            return []
        } catch {
            await running.unreserve(reserved.values.reduce(0, +))
            throw error
        }
        if let refused = applied.refused {
            logger.error("reports refused", metadata: ["baton.error": "\(refused)"])
        }
        let claimed = applied.claimed
        var controls: [TaskControl] = []
        for (queue, members) in claimed {
            do {
                for task in try await store.start(members, from: queue) {
                    let control = TaskControl(task: task, queue: queue)
                    await running.add(control, reserved: true)
                    AgentMetrics.claimed(task.executor).increment()
                    controls.append(control)
                }
            } catch {
                // Claimed, not started: their leases run out and the reaper queues them again.
                logger.warning("starting claimed tasks failed", metadata: ["baton.error": "\(error)"])
            }
        }
        await running.unreserve(reserved.values.reduce(0, +) - controls.count)
        return controls
    }
}
