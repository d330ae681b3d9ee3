import NIOCore
import Synchronization

/// What one streaming client still has to take from its tree's reader: batches of events,
/// bounded by their bytes, and at most one pending tick. One consumer, the client's
/// ``EventSession``; producers are ``TreeEventHub``'s reader and tick.
///
/// When a batch would take the queue past ``limit`` bytes, the feed overflows: the queue is
/// dropped at once (memory stays bounded whatever the client does), the consumer gets the end
/// of the feed and ``overflowed`` is set. A queue that is empty always takes one batch, so that
/// a client keeping up is never cut off by a single large batch.
final class ClientFeed: Sendable {
    /// What the consumer takes.
    enum Signal: Sendable {
        /// New events, oldest first.
        case events([TreeEvent])
        /// Time passes (keep-alive opportunity).
        case tick
    }

    private struct Batch {
        let events: [TreeEvent]
        let bytes: Int
    }

    private struct State {
        var queue = CircularBuffer<Batch>()
        var bytes = 0
        var tick = false
        var finished = false
        var overflowedAt: ContinuousClock.Instant?
        var disconnected = false
        var waiter: CheckedContinuation<Signal?, Never>?
    }

    /// Bytes of queued events beyond which the feed overflows.
    let limit: Int
    private let state = Mutex(State())

    init(limit: Int) {
        self.limit = limit
    }

    /// The bytes a batch counts for: its events' JSON.
    static func bytes(of events: [TreeEvent]) -> Int {
        events.reduce(0) { $0 + $1.json.utf8.count }
    }

    // MARK: Producers

    /// Queues a batch (or hands it to the waiting consumer); false when the feed overflowed now.
    @discardableResult
    func push(_ events: [TreeEvent], bytes: Int) -> Bool {
        let (waiter, overflowed) = state.withLock { state -> (CheckedContinuation<Signal?, Never>?, Bool) in
            if state.finished { return (nil, false) }
            if let waiter = state.waiter {
                state.waiter = nil
                return (waiter, false)
            }
            if !state.queue.isEmpty && state.bytes + bytes > limit {
                state.finished = true
                state.overflowedAt = .now
                state.queue = CircularBuffer()
                state.bytes = 0
                return (nil, true)
            }
            state.queue.append(Batch(events: events, bytes: bytes))
            state.bytes += bytes
            return (nil, false)
        }
        waiter?.resume(returning: .events(events))
        return !overflowed
    }

    /// Offers a tick; ticks do not pile up.
    func tick() {
        let waiter = state.withLock { state -> CheckedContinuation<Signal?, Never>? in
            if state.finished { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.tick = true
            return nil
        }
        waiter?.resume(returning: .tick)
    }

    /// Ends the feed: the consumer gets what is queued, then the end.
    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<Signal?, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// True when the feed overflowed (the client fell behind).
    var overflowed: Bool { state.withLock { $0.overflowedAt != nil } }

    /// True once, for a feed that overflowed at least `grace` ago: its consumer had that long to
    /// take the end and report it, and its connection is to be closed.
    func shouldDisconnect(after grace: Duration, now: ContinuousClock.Instant) -> Bool {
        state.withLock { state in
            guard let since = state.overflowedAt, !state.disconnected, now - since >= grace else { return false }
            state.disconnected = true
            return true
        }
    }

    // MARK: Consumer

    /// The next signal; `nil` at the end of the feed (finished, overflowed, or the task was cancelled).
    func next() async -> Signal? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Signal?, Never>) in
                let ready = state.withLock { state -> Signal?? in
                    if let batch = state.queue.popFirst() {
                        state.bytes -= batch.bytes
                        return .some(.events(batch.events))
                    }
                    if state.tick {
                        state.tick = false
                        return .some(.tick)
                    }
                    if state.finished { return .some(nil) }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            finish()
        }
    }
}
