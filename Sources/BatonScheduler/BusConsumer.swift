import BatonCore
import BatonStore
import Logging
import RedisClient
import ServiceLifecycle
import Synchronization

/// Consumes the bus (agents' reports and Redis-native submissions) as one consumer of the
/// schedulers' group, applies each batch with one tree script per tree, and acknowledges the
/// entries only after their effects are stored. Entries left unacknowledged by a crash are read
/// again (its own on restart, a dead scheduler's after ``SchedulerSettings/reclaimIdleMillis``);
/// the scripts make a replay change nothing.
///
/// While it runs, the consumer keeps a liveness key (``Keys/schedulerAlive(_:)``) fresh. Every
/// few seconds it looks for consumers of the group whose key expired — schedulers that were
/// killed — and takes over their unacknowledged entries at once; a consumer that looks alive but
/// does not move loses its entries after ``SchedulerSettings/reclaimIdleMillis``.
public struct BusConsumer: Service {
    let store: BatonStore
    let settings: SchedulerSettings
    let submissions: SubmissionHandler
    let logger: Logger

    public init(store: BatonStore, settings: SchedulerSettings, submissions: SubmissionHandler, logger: Logger) {
        self.store = store
        self.settings = settings
        self.submissions = submissions
        self.logger = logger
    }

    public func run() async throws {
        let groups = await readGroups()
        let connections = groups.map { _ in store.redis.makeBlockingConnection(name: "baton-scheduler-bus") }
        defer { for connection in connections { connection.close() } }
        let batcher = BusBatcher()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await keepAlive() }
            group.addTask { await takeOverAndReclaim() }
            group.addTask { await replayApplied() }
            // What every reader has read is applied together: one round of tree scripts for
            // all the shards' reports, not one per shard.
            group.addTask { await batcher.run { try await process($0) } }
            // On SIGTERM the blocking reads are aborted at once (also while they wait to reconnect).
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { readers in
                    for (streams, connection) in zip(groups, connections) {
                        readers.addTask { await consume(streams, on: connection, batcher: batcher) }
                    }
                }
            } onGracefulShutdown: {
                for connection in connections { connection.close() }
            }
            group.cancelAll()
        }
    }

    /// The streams each reader reads (``BatonStore/busReadGroups()``), asked until Redis answers.
    func readGroups() async -> [[String]] {
        var backoff = RetryBackoff()
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                return try await store.busReadGroups()
            } catch {
                logger.warning("cannot reach Redis; retrying", metadata: ["baton.error": "\(error)"])
                try? await backoff.wait()
            }
        }
        return [store.keys.busStreams]
    }

    /// Refreshes the liveness key until cancelled (a failed refresh is retried at the next tick).
    func keepAlive() async {
        while !Task.isCancelled {
            do {
                try await store.markSchedulerAlive(settings.consumerName, ttlMillis: settings.livenessTTLMillis)
            } catch {
                logger.warning("liveness refresh failed", metadata: ["baton.error": "\(error)"])
            }
            try? await Task.sleep(for: .milliseconds(settings.livenessRefreshMillis))
        }
    }

    /// Reads and applies the entries of some bus streams until shutdown: first this consumer's
    /// own unacknowledged ones (a restart under the same name resumes them at once), then new ones.
    func consume(_ streams: [String], on connection: RedisBlockingConnection, batcher: BusBatcher) async {
        var readPending = true
        var backoff = RetryBackoff()
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                if readPending { try await store.createSchedulerGroup() }
                let entries = try await store.readBus(
                    streams, on: connection, consumer: settings.consumerName, count: settings.batchSize,
                    blockMillis: settings.blockMillis, pending: readPending)
                if readPending && entries.isEmpty { readPending = false }
                if entries.isEmpty { continue }
                try await batcher.apply(entries)
                backoff.reset()
            } catch is CancellationError {
                break
            } catch {
                logger.warning("bus round failed; retrying", metadata: ["baton.error": "\(error)"])
                readPending = true
                try? await backoff.wait()
            }
        }
    }

    /// Replays, every ``SchedulerSettings/replayIntervalMillis``, the reports agents applied
    /// themselves (a full batch is followed by the next at once): first this consumer's own
    /// unacknowledged ones, then new ones. Replaying an applied report changes nothing but redoes
    /// its dispatch, which its agent may have died before finishing.
    func replayApplied() async {
        var readPending = true
        var backoff = RetryBackoff()
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                if readPending { try await store.createSchedulerGroup() }
                let entries = try await store.readApplied(consumer: settings.consumerName, count: settings.batchSize, pending: readPending)
                if readPending && entries.isEmpty { readPending = false }
                if !entries.isEmpty { try await process(entries) }
                backoff.reset()
                if entries.count < settings.batchSize {
                    try await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(settings.replayIntervalMillis)) }
                }
            } catch is CancellationError {
                break
            } catch {
                if Task.isShuttingDownGracefully { break }
                logger.warning("replay round failed; retrying", metadata: ["baton.error": "\(error)"])
                readPending = true
                try? await backoff.wait()
            }
        }
    }

    /// Takes over dead schedulers' entries (at once, then every liveness period) and, every
    /// third of ``SchedulerSettings/reclaimIdleMillis``, entries idle that long; applies them.
    func takeOverAndReclaim() async {
        var lastReclaim = ContinuousClock.now
        var backoff = RetryBackoff()
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await store.createSchedulerGroup()
                var entries = try await store.takeOverDeadSchedulers(consumer: settings.consumerName, count: settings.batchSize)
                if ContinuousClock.now - lastReclaim > .milliseconds(settings.reclaimIdleMillis / 3) {
                    lastReclaim = .now
                    entries += try await store.reclaimBus(
                        consumer: settings.consumerName, idleMillis: settings.reclaimIdleMillis, count: settings.batchSize)
                }
                if !entries.isEmpty { try await process(entries) }
                backoff.reset()
                try await Task.sleep(for: .milliseconds(entries.count >= settings.batchSize ? 0 : settings.livenessTTLMillis))
            } catch is CancellationError {
                break
            } catch {
                logger.warning("bus takeover failed; retrying", metadata: ["baton.error": "\(error)"])
                try? await backoff.wait()
            }
        }
    }

    /// Applies a batch: reports of every tree at once, then submissions one by one.
    func process(_ entries: [BusEntry]) async throws {
        var reports: [Report] = []
        for entry in entries {
            if case .reports(_, _, let batch) = entry { reports += batch }
        }
        if !reports.isEmpty {
            do {
                try await store.apply(reports)
                for (kind, count) in Dictionary(grouping: reports, by: \.kind.rawValue).mapValues(\.count) {
                    SchedulerMetrics.applied(kind).increment(by: count)
                }
            } catch let error as BatonError {
                // A script refused a tree's reports (e.g. the tree vanished): the others are
                // applied; acknowledging keeps one bad entry from blocking the bus forever.
                logger.error("reports refused", metadata: ["baton.error": "\(error)"])
            }
        }
        var postponed: Set<String> = []
        for entry in entries {
            if case .submission(let id, let fields) = entry, !(await submissions.handle(entryID: id, fields: fields)) {
                postponed.insert(id)
            }
        }
        try await store.acknowledge(entries.filter { !postponed.contains($0.id) })
        if !postponed.isEmpty {
            // Redis failed under a submission: read the unacknowledged entries again after a pause.
            throw SubmissionPostponed(count: postponed.count)
        }
    }
}

/// Submissions whose outcome was unknown (Redis failed part-way) stay unacknowledged for a replay.
struct SubmissionPostponed: Error, CustomStringConvertible {
    let count: Int
    var description: String { "\(count) submission(s) postponed until Redis answers" }
}

/// Gathers what several bus readers read and applies it in one call: each reader waits until
/// its entries were applied (and acknowledged), so it reads again only after that, exactly as
/// if it had applied them itself; a failure is every waiting reader's.
final class BusBatcher: Sendable {
    private struct Waiting {
        let entries: [BusEntry]
        let continuation: CheckedContinuation<Void, any Error>
    }

    private let waiting = Mutex<[Waiting]>([])
    private let wakes: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    init() {
        (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Hands entries over and returns once they were applied.
    func apply(_ entries: [BusEntry]) async throws {
        try await withCheckedThrowingContinuation { continuation in
            waiting.withLock { $0.append(Waiting(entries: entries, continuation: continuation)) }
            wake.yield()
        }
    }

    /// Applies whatever has gathered, again and again, until cancelled; then fails what waits.
    func run(_ process: ([BusEntry]) async throws -> Void) async {
        for await _ in wakes {
            let batch = waiting.withLock { current in
                defer { current.removeAll() }
                return current
            }
            if batch.isEmpty { continue }
            do {
                try await process(batch.flatMap(\.entries))
                for item in batch { item.continuation.resume() }
            } catch {
                for item in batch { item.continuation.resume(throwing: error) }
            }
        }
        for item in waiting.withLock({ current in defer { current.removeAll() }; return current }) {
            item.continuation.resume(throwing: CancellationError())
        }
    }
}
