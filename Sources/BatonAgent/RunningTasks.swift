import BatonCore
import BatonStore
import Synchronization

/// The control handle of one running attempt.
final class TaskControl: Sendable {
    let task: StartedTask
    /// The queue shard the attempt was claimed from: its lease and cancel requests live there.
    let queue: ExecutorQueue
    /// Given to the executor: set when cancellation was requested.
    let cancellation = CancellationFlag()
    /// Set when the agent gives the attempt up (lease lost, handed back): its outcome is not reported.
    let abandoned = CancellationFlag()
    /// Set when a user cancelled the task (pub/sub signal or heartbeat): the attempt ends as `cancelled`.
    let cancelRequested = CancellationFlag()

    /// The running executor and how to stop waiting for it, once ``attach(_:giveUp:)`` was called.
    private let attempt = Mutex<(work: Task<JSONValue, any Error>, giveUp: @Sendable () -> Void)?>(nil)

    init(task: StartedTask, queue: ExecutorQueue) {
        self.task = task
        self.queue = queue
    }

    /// Connects the attempt's executor task: from now on a cancel request cancels it and
    /// abandoning it stops the wait at once (`giveUp`). A request made before acts now.
    func attach(_ work: Task<JSONValue, any Error>, giveUp: @escaping @Sendable () -> Void) {
        attempt.withLock { $0 = (work, giveUp) }
        if cancelRequested.isSet || abandoned.isSet { work.cancel() }
        if abandoned.isSet { giveUp() }
    }

    /// Asks the executor to stop because the task was cancelled (the executor sees
    /// `context.isCancelled` and its Swift task is cancelled); the attempt still waits for it.
    func requestCancel() {
        cancelRequested.set()
        cancellation.set()
        attempt.withLock { $0 }?.work.cancel()
    }

    /// Gives the attempt up (lease lost, handed back): the executor is asked to stop and nobody
    /// waits for it any longer; its outcome is not reported.
    func abandon() {
        abandoned.set()
        cancellation.set()
        if let attached = attempt.withLock({ $0 }) {
            attached.work.cancel()
            attached.giveUp()
        }
    }

    var member: String { Keys.member(tree: task.treeID, task: task.taskID) }
}

/// The agent's slots: which attempts run now, and waiting for a free slot or for all to end.
actor RunningTasks {
    let capacity: Int
    private var running: [String: TaskControl] = [:]
    private var slotWaiters: [CheckedContinuation<Void, Never>] = []
    private var idleWaiters: [CheckedContinuation<Void, Never>] = []

    /// Slots promised to tasks being claimed (``reserve(upTo:)``), not running yet.
    private var reserved = 0
    /// Set when the shutdown begins: nothing more is reserved.
    private var closed = false

    init(capacity: Int) { self.capacity = capacity }

    /// Slots neither running an attempt nor reserved.
    var free: Int { capacity - running.count - reserved }
    /// Tasks waiting in ``waitForFreeSlot()`` now.
    var waiterCount: Int { slotWaiters.count }
    var count: Int { running.count }

    /// Adds a started attempt; `reserved`: it takes one of the slots ``reserve(upTo:)`` gave.
    func add(_ control: TaskControl, reserved fromReservation: Bool = false) {
        if fromReservation { reserved = max(0, reserved - 1) }
        running[control.member] = control
    }

    /// Reserves up to `count` free slots for tasks about to be claimed (the claim loop and the
    /// agent's own apply claim concurrently: neither may take a slot the other counted on).
    /// Returns how many it got (none once ``stopReserving()`` was called).
    func reserve(upTo count: Int) -> Int {
        let granted = closed ? 0 : max(0, min(count, free))
        reserved += granted
        return granted
    }

    /// Gives back reserved slots that no started attempt took.
    func unreserve(_ count: Int) {
        guard count > 0 else { return }
        reserved = max(0, reserved - count)
        wakeSlotWaiters()
    }

    /// The shutdown began: no more reservations.
    func stopReserving() { closed = true }

    /// Attempts that ended here whose report may not be applied yet, with when to stop keeping
    /// their lease: heartbeats go on extending it (`ZADD XX`) until the scheduler drops it, so a
    /// scheduler slow to apply the report cannot see the lease expire and run the task again.
    private var settling: [String: (queue: ExecutorQueue, until: ContinuousClock.Instant)] = [:]

    /// Frees the attempt's slot and keeps its lease alive for at most `window` while its report
    /// is applied.
    func settle(_ control: TaskControl, window: Duration) {
        settling[control.member] = (control.queue, .now + window)
        remove(control.member)
    }

    /// Stops keeping a settled attempt's lease (the scheduler dropped it).
    func forget(_ member: String) { settling.removeValue(forKey: member) }

    func remove(_ member: String) {
        running.removeValue(forKey: member)
        wakeSlotWaiters()
        if running.isEmpty {
            for waiter in idleWaiters { waiter.resume() }
            idleWaiters.removeAll()
        }
    }

    /// Every waiter: the claim loop and the queue waiters all wait for a free slot, and one left
    /// waiting while a slot is free never wakes again (a waiter that took the marker cannot hand
    /// the work to a claim loop that still sleeps).
    private func wakeSlotWaiters() {
        for waiter in slotWaiters { waiter.resume() }
        slotWaiters.removeAll()
    }

    /// Returns once a slot is free (or ``wakeAll()`` is called, on shutdown). Several tasks may
    /// wait at once; all of them wake when a slot frees.
    func waitForFreeSlot() async {
        if free > 0 { return }
        await withCheckedContinuation { slotWaiters.append($0) }
    }

    /// Returns once nothing runs (or ``wakeAll()`` is called).
    func waitUntilIdle() async {
        if running.isEmpty { return }
        await withCheckedContinuation { idleWaiters.append($0) }
    }

    /// Wakes every waiter (shutdown).
    func wakeAll() {
        for waiter in slotWaiters + idleWaiters { waiter.resume() }
        slotWaiters.removeAll()
        idleWaiters.removeAll()
    }

    /// Running and settling attempts grouped by the queue shard that holds their leases (for
    /// heartbeats); settling ones past their window are let go (the reaper takes over).
    func membersByQueue() -> [ExecutorQueue: [String]] {
        let now = ContinuousClock.now
        settling = settling.filter { $0.value.until > now }
        var members = Dictionary(grouping: running.values, by: \.queue).mapValues { $0.map(\.member) }
        for (member, entry) in settling where running[member] == nil { members[entry.queue, default: []].append(member) }
        return members
    }

    func control(_ member: String) -> TaskControl? { running[member] }

    var all: [TaskControl] { Array(running.values) }
}
