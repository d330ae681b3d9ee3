import BatonCore
import Foundation
import BatonStore
import Logging
import Metrics
import RedisClient
import ServiceLifecycle
import Synchronization

/// An executor agent: claims the best ready tasks of its executor types, runs them with their
/// merged inputs, heartbeats their leases and reports the outcome with the claim's attempt.
///
/// One blocking waiter per process on a standalone server (one per slot on a cluster): when its
/// queues are empty the agent sleeps in one `BZPOPMIN` on their wake-up markers, and when woken it
/// takes up to as many tasks as it has free slots in one script call per queue shard. On graceful shutdown it stops claiming, lets
/// running tasks finish for ``AgentSettings/shutdownGraceMillis`` and hands the rest back.
public struct Agent: Service {
    let store: BatonStore
    let registry: ExecutorRegistry
    let settings: AgentSettings
    let logger: Logger

    public init(store: BatonStore, registry: ExecutorRegistry, settings: AgentSettings, logger: Logger) {
        self.store = store
        self.registry = registry
        self.settings = settings
        self.logger = logger
    }

    public func run() async throws {
        let running = RunningTasks(capacity: settings.concurrency)
        // Attempts the reporter claimed and started itself, right after applying a report that
        // released them (``Reporter``): run by a loop of their own below.
        let (ownClaims, ownClaim) = AsyncStream<[TaskControl]>.makeStream()
        let reporter = Reporter(
            store: store, logger: logger,
            claiming: settings.appliesReports ? Reporter.Claiming(
                running: running, executorTypes: Set(settings.executorTypes), leaseMillis: settings.leaseMillis,
                deliver: { ownClaim.yield($0) }) : nil)
        let slotGroups = await waiterGroups()
        let waiters = slotGroups.map { _ in store.redis.makeBlockingConnection(name: "baton-agent") }
        let (wakes, wake) = AsyncStream<[ExecutorQueue]>.makeStream(bufferingPolicy: .bufferingNewest(256))
        defer { for waiter in waiters { waiter.close() } }

        // The agent's record: refreshed until the shutdown begins, removed once the drain is over
        // (after the refreshing stopped, so a last refresh cannot bring it back).
        let registration = Task { await self.register(running, reporter: reporter) }
        defer { registration.cancel() }
        await withDiscardingTaskGroup { group in
            group.addTask { await reporter.run() }
            group.addTask { await self.heartbeat(running, reporter: reporter) }
            group.addTask { await self.announceServedTypes() }
            group.addTask { await self.listenForCancels(running) }
            group.addTask {
                await withDiscardingTaskGroup { attempts in
                    for await controls in ownClaims {
                        for control in controls {
                            attempts.addTask { await self.runAttempt(control, running: running, reporter: reporter) }
                        }
                    }
                }
            }
            for (queues, waiter) in zip(slotGroups, waiters) {
                group.addTask { await self.waitForWork(queues, on: waiter, running: running, wake: wake) }
            }
            await withGracefulShutdownHandler {
                await self.claimLoop(running: running, reporter: reporter, wakes: wakes, wake: wake, group: &group)
            } onGracefulShutdown: {
                for waiter in waiters { waiter.close() }
                wake.finish()
                Task {
                    await running.stopReserving()
                    await running.wakeAll()
                }
            }
            await running.stopReserving()
            await self.drain(running: running, reporter: reporter)
            ownClaim.finish()
            await registration.value
            // A Redis that is down must not hold the shutdown up: the record expires by itself.
            try? await store.unregisterAgent(settings.agentID, timeout: .milliseconds(500))
            reporter.finish()
            group.cancelAll()
        }
    }

    // MARK: Claiming

    /// The queue shards each waiter waits for. On a standalone server one waiter waits for all
    /// of them; on a cluster there is one per slot of the queues' markers, since a blocking wait
    /// never spans slots (Redis Cluster could not serve it). Asks Redis which it is, retrying
    /// until it answers (nothing can be claimed before) or the agent stops.
    private func waiterGroups() async -> [[ExecutorQueue]] {
        var backoff = RetryBackoff()
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                return try await store.waiterGroups(settings.executorTypes)
            } catch {
                logger.warning("cannot reach Redis; retrying", metadata: ["baton.error": "\(error)"])
                try? await backoff.wait()
            }
        }
        return [settings.executorTypes.flatMap(store.keys.queues(of:))]
    }

    /// Claims from the queues the waiters name, whenever the agent has free slots.
    private func claimLoop(
        running: RunningTasks, reporter: Reporter, wakes: AsyncStream<[ExecutorQueue]>,
        wake: AsyncStream<[ExecutorQueue]>.Continuation, group: inout DiscardingTaskGroup
    ) async {
        var backoff = RetryBackoff()
        var turn = 0
        // Queue shards a rate limit holds back, and when their next task is due: no marker wakes
        // the agents then, so a timer does (one per shard, the earliest).
        let timers = DueTimers()
        for await queues in wakes {
            if Task.isShuttingDownGracefully || Task.isCancelled { break }
            // The reporter may reserve the slot that freed first (for a task it claims itself).
            var slots = 0
            while slots == 0 && !Task.isShuttingDownGracefully && !Task.isCancelled {
                await running.waitForFreeSlot()
                slots = await running.reserve(upTo: .max)
            }
            if slots == 0 { break }
            do {
                turn &+= 1
                let (started, dues) = try await claimAndStart(free: slots, from: queues, turn: turn)
                for (queue, due) in dues {
                    if !timers.arm(queue, at: due) { continue }
                    let delay = max(0, due - store.clock())
                    group.addTask {
                        try? await Task.sleep(for: .milliseconds(delay))
                        timers.fired(queue, at: due)
                        wake.yield([queue])
                    }
                }
                for (task, queue) in started {
                    let control = TaskControl(task: task, queue: queue)
                    await running.add(control, reserved: true)
                    AgentMetrics.claimed(task.executor).increment()
                    group.addTask { await self.runAttempt(control, running: running, reporter: reporter) }
                }
                await running.unreserve(slots - started.count)
                backoff.reset()
            } catch {
                await running.unreserve(slots)
                if Task.isShuttingDownGracefully { break }
                logger.warning("claiming failed; retrying", metadata: ["baton.error": "\(error)"])
                try? await backoff.wait()
            }
        }
    }

    /// Runs one started attempt in its slot, which it frees when done (keeping the ended
    /// attempt's lease alive until its report is applied).
    ///
    /// The report goes out from this task (``Reporter/sendNow(_:of:)``) while the slot is still
    /// held (a shutdown's drain waits for it); a task the report released and this agent claimed
    /// is run next by this task itself (the others go to the loop that runs claimed attempts).
    private func runAttempt(_ first: TaskControl, running: RunningTasks, reporter: Reporter) async {
        var next: TaskControl? = first
        while let control = next {
            next = nil
            let started = ContinuousClock.now
            let report = await execute(control, reporter: reporter)
            AgentMetrics.duration(control.task.executor).recordInterval(ContinuousClock.now - started)
            var claimed: [TaskControl] = []
            if let report { claimed = await reporter.sendNow(report, of: control.task.executor) }
            if control.abandoned.isSet {
                await running.remove(control.member)
            } else {
                await running.settle(control, window: .milliseconds(3 * settings.leaseMillis))
            }
            if !claimed.isEmpty {
                next = claimed.removeFirst()
                reporter.deliver(claimed)
            }
        }
    }

    /// Names the queue shards to claim from: all of them at first and after a quiet second
    /// (a marker can be lost with an agent that popped it and died), else the one whose marker
    /// an enqueue set. It waits only while the agent has a free slot, so a busy agent leaves the
    /// markers to agents that can take the work. A queue left non-empty by a claim keeps its
    /// marker set, so a marker always means work.
    private func waitForWork(
        _ queues: [ExecutorQueue], on waiter: RedisBlockingConnection, running: RunningTasks,
        wake: AsyncStream<[ExecutorQueue]>.Continuation
    ) async {
        var backoff = RetryBackoff()
        wake.yield(queues)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await running.waitForFreeSlot()
            if Task.isShuttingDownGracefully { break }
            do {
                wake.yield(try await store.waitForWork(queues, on: waiter).map { [$0] } ?? queues)
                backoff.reset()
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { break }
                logger.warning("waiting for work failed; retrying", metadata: ["baton.error": "\(error)"])
                try? await backoff.wait()
                wake.yield(queues)
            }
        }
    }

    /// Takes up to `free` tasks from the given queue shards and starts them. The shards are
    /// visited in turn, from a start that moves on with every round (`turn`), so that with
    /// `queue_shards` > 1 no shard is always served first.
    /// Also returns, for shards a rate limit held back, when their next task is due (epoch ms).
    private func claimAndStart(
        free: Int, from queues: [ExecutorQueue], turn: Int
    ) async throws -> (started: [(StartedTask, ExecutorQueue)], dues: [ExecutorQueue: Int64]) {
        var remaining = free
        var started: [(StartedTask, ExecutorQueue)] = []
        var dues: [ExecutorQueue: Int64] = [:]
        let first = queues.isEmpty ? 0 : turn % queues.count
        for queue in queues[first...] + queues[..<first] where remaining > 0 {
            let (claimed, due) = try await store.claimWithDue(queue, count: remaining, leaseMillis: settings.leaseMillis)
            if let due { dues[queue] = due }
            if claimed.isEmpty { continue }
            let begun = try await store.start(claimed, from: queue)
            started += begun.map { ($0, queue) }
            remaining -= begun.count
        }
        return (started, dues)
    }

    // MARK: Leases

    /// Tells the schedulers, now and every few seconds, which executor types this agent serves:
    /// their reapers sweep only types served lately (``BatonStore/executorTypes()``).
    private func announceServedTypes() async {
        while !Task.isCancelled {
            do {
                try await store.markServed(settings.executorTypes)
            } catch {
                logger.warning("announcing executor types failed", metadata: ["baton.error": "\(error)"])
            }
            do { try await Task.sleep(for: .seconds(5)) } catch { return }
        }
    }

    /// Keeps this agent's record (``AgentRecord``) in Redis while it runs, refreshed every
    /// ``BatonStore/agentRefreshMillis``, until the shutdown begins.
    private func register(_ running: RunningTasks, reporter: Reporter) async {
        let startedAt = store.clock()
        let process = ProcessInfo.processInfo
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            AgentMetrics.running.record(await running.count)
            AgentMetrics.free.record(await running.free)
            let record = AgentRecord(
                id: settings.agentID, host: process.hostName, pid: Int(process.processIdentifier), version: BatonVersion.current,
                executors: settings.executorTypes, concurrency: settings.concurrency, running: await running.count,
                startedAt: startedAt, lastSeen: store.clock(), lastMinute: reporter.outcomes.lastMinute())
            do {
                try await store.registerAgent(record)
            } catch {
                logger.warning("refreshing the agent record failed", metadata: ["baton.error": "\(error)"])
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(BatonStore.agentRefreshMillis)) }
            } catch {
                break
            }
        }
    }

    private func heartbeat(_ running: RunningTasks, reporter: Reporter) async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: .milliseconds(settings.heartbeatMillis))
            } catch {
                return
            }
            for (queue, members) in await running.membersByQueue() {
                do {
                    let outcome = try await store.heartbeat(queue, members: members, leaseMillis: settings.leaseMillis)
                    for member in outcome.lost {
                        // A settled attempt's lease is gone once its report was applied: done.
                        guard let control = await running.control(member) else {
                            await running.forget(member)
                            continue
                        }
                        logger.warning("lease lost; abandoning the attempt", metadata: ["baton.task_id": "\(control.task.taskID)"])
                        AgentMetrics.leaseLost(control.task.executor).increment()
                        // Hand the attempt back: if nobody requeued the task (its lease was dropped
                        // by a late expiry), this puts it back in its queue instead of leaving it
                        // in progress with no lease; if it was requeued, the report is stale.
                        let task = control.task
                        reporter.send(Report(kind: .handback, treeID: task.treeID, taskID: task.taskID, attempt: task.attempt))
                        control.abandon()
                    }
                    // Cancel requests whose pub/sub signal was lost (or not yet delivered).
                    for (member, attempt) in outcome.cancelRequests {
                        await cancelRequested(member: member, attempt: attempt, running, via: "heartbeat")
                    }
                } catch {
                    logger.warning("heartbeat failed", metadata: ["baton.error": "\(error)"])
                }
            }
        }
    }

    // MARK: Cancellation

    /// Follows the cancel channels of the agent's executor types (payload `<tree>\t<task>\t<attempt>`).
    /// A message is a nudge: heartbeats read the same requests from the queues' `cancels` hashes.
    private func listenForCancels(_ running: RunningTasks) async {
        let subscriber = store.redis.makeShardedSubscriber(name: "baton-agent-cancel")
        defer { subscriber.close() }
        while !Task.isCancelled {
            do {
                try await subscriber.ssubscribe(settings.executorTypes.flatMap(store.keys.queues(of:)).map(store.keys.cancelChannel))
                break
            } catch {
                logger.warning("cannot subscribe to cancel signals; retrying", metadata: ["baton.error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
        for await event in subscriber.events {
            guard case .message(let message) = event else { continue }
            let parts = message.text.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3, let attempt = Int(parts[2]) else { continue }
            await cancelRequested(member: Keys.member(tree: parts[0], task: parts[1]), attempt: attempt, running, via: "signal")
        }
    }

    /// Stops the attempt a cancel request names, if it runs here.
    private func cancelRequested(member: String, attempt: Int, _ running: RunningTasks, via path: String) async {
        guard let control = await running.control(member), control.task.attempt == attempt,
              !control.cancelRequested.isSet else { return }
        logger.info("cancel requested; stopping the executor",
                    metadata: ["baton.task_id": "\(control.task.taskID)", "baton.cancel_path": "\(path)"])
        control.requestCancel()
    }

    // MARK: Shutdown

    /// Waits for running tasks up to the grace period, then hands the rest back to the queue.
    private func drain(running: RunningTasks, reporter: Reporter) async {
        let initially = await running.count
        if initially == 0 { return }
        logger.info("waiting for running tasks", metadata: ["baton.count": "\(initially)"])
        let deadline = ContinuousClock.now + .milliseconds(settings.shutdownGraceMillis)
        while await running.count > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        let unfinished = await running.all
        for control in unfinished {
            control.abandon()
            reporter.send(Report(kind: .handback, treeID: control.task.treeID, taskID: control.task.taskID,
                                 attempt: control.task.attempt))
        }
        if !unfinished.isEmpty {
            logger.info("handed back unfinished tasks", metadata: ["baton.count": "\(unfinished.count)"])
        }
    }
}

/// The wake-up timers of queue shards a rate limit holds back: at most one per shard, the earliest.
final class DueTimers: Sendable {
    private let armed = Mutex<[ExecutorQueue: Int64]>([:])

    /// Whether a timer for `queue` at `due` (epoch ms) should start: none is armed earlier.
    func arm(_ queue: ExecutorQueue, at due: Int64) -> Bool {
        armed.withLock { armed in
            if let earlier = armed[queue], earlier <= due { return false }
            armed[queue] = due
            return true
        }
    }

    /// The timer armed for `queue` at `due` went off.
    func fired(_ queue: ExecutorQueue, at due: Int64) {
        armed.withLock { armed in if armed[queue] == due { armed[queue] = nil } }
    }
}
