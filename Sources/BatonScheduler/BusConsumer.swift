import BatonCore
import BatonStore
import Logging
import RedisClient
import ServiceLifecycle

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
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await keepAlive() }
            group.addTask { await takeOverAndReclaim() }
            // On SIGTERM the blocking reads are aborted at once (also while they wait to reconnect).
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { readers in
                    for (streams, connection) in zip(groups, connections) {
                        readers.addTask { await consume(streams, on: connection) }
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
    func consume(_ streams: [String], on connection: RedisBlockingConnection) async {
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
                try await process(entries)
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
