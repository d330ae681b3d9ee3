import BatonCore
import BatonStore
import Logging
import RedisClient
import ServiceLifecycle
import Synchronization

/// One shared reader per watched tree, fanning the tree's events out to every streaming client
/// (SSE or WebSocket) of this gateway.
///
/// - A reader keeps its position in the tree's stream and reads on with `XREAD` (non-blocking)
///   whenever it is woken: by a nudge on the tree's shard channel (``Keys/treeChannel(_:)``,
///   subscribed while the reader runs, on the tree's node of a cluster), and by a tick every
///   ``Settings/tickInterval`` as a fallback for nudges lost while the subscriber reconnected or
///   the channel moved. Readers never block a thread.
/// - A client attaches at the reader's current position P: it receives every event after P from
///   the reader, and reads what lies between its own resume id and P itself (``TreeEventLog``).
///   Events carry their stream id, so a client delivers each exactly once.
/// - A reader without clients for ``Settings/linger`` stops.
/// - Each client's events wait in a ``ClientFeed`` bounded by ``Settings/clientBufferBytes``: a
///   client that falls further behind loses its feed (and its session reports it, naming the id
///   to resume from); one whose session is stuck behind a full send buffer for
///   ``Settings/overflowGrace`` after that has its connection closed.
///
/// Run it as a `Service` (its readers are child tasks of ``run()``).
final class TreeEventHub: Service, Sendable {
    struct Settings: Sendable {
        /// Fallback reads and keep-alive checks.
        var tickInterval: Duration = .seconds(1)
        /// How long a reader without clients stays (reconnecting clients find it warm).
        var linger: Duration = .seconds(5)
        /// Bytes of events a slow client may have queued before it is cut off (it resumes with its last id).
        var clientBufferBytes = 1_048_576
        /// How long a client that was cut off may take to end its session before its connection is closed.
        var overflowGrace: Duration = .seconds(2)
    }

    /// What a client receives.
    typealias Signal = ClientFeed.Signal

    /// A client's registration.
    struct Attachment: Sendable {
        let treeID: String
        let clientID: UInt64
        /// Events after this id come through ``feed``.
        let position: StreamID
        let feed: ClientFeed
    }

    private struct Client {
        let feed: ClientFeed
        /// Closes the client's connection.
        let disconnect: @Sendable () -> Void
    }

    private struct Reader {
        let serial: UInt64
        let wake: AsyncStream<Void>.Continuation
        var position: StreamID?
        var clients: [UInt64: Client] = [:]
        var waiters: [CheckedContinuation<StreamID, any Error>] = []
        var idleSince: ContinuousClock.Instant?
    }

    private struct State {
        var readers: [String: Reader] = [:]
        var nextSerial: UInt64 = 0
        var stopped = false
    }

    private struct ReaderStart: Sendable {
        let treeID: String
        let serial: UInt64
        let wake: AsyncStream<Void>
    }

    let log: TreeEventLog
    private let keys: Keys
    private let subscriber: RedisShardedSubscriber
    private let settings: Settings
    private let logger: Logger
    private let metrics: GatewayMetrics
    private let state = Mutex(State())
    private let starts: AsyncStream<ReaderStart>
    private let startContinuation: AsyncStream<ReaderStart>.Continuation

    init(store: BatonStore, settings: Settings, metrics: GatewayMetrics, logger: Logger) {
        keys = store.keys
        log = TreeEventLog(store: store)
        subscriber = store.redis.makeShardedSubscriber(name: "baton-gateway-nudges")
        self.settings = settings
        self.metrics = metrics
        self.logger = logger
        (starts, startContinuation) = AsyncStream.makeStream(of: ReaderStart.self)
    }

    // MARK: Service

    func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.routeNudges() }
            group.addTask { await self.tick() }
            group.addTask {
                await withDiscardingTaskGroup { readers in
                    for await start in self.starts {
                        readers.addTask { await self.runReader(start) }
                    }
                }
            }
            group.addTask {
                try? await gracefulShutdown()
                self.stop()
            }
        }
    }

    /// Ends every client stream and reader; later attachments fail.
    func stop() {
        let (clients, waiters) = state.withLock { state -> ([Client], [CheckedContinuation<StreamID, any Error>]) in
            state.stopped = true
            var clients: [Client] = []
            var waiters: [CheckedContinuation<StreamID, any Error>] = []
            for reader in state.readers.values {
                clients += reader.clients.values
                waiters += reader.waiters
                reader.wake.finish()
            }
            state.readers.removeAll()
            return (clients, waiters)
        }
        for client in clients { client.feed.finish() }
        for waiter in waiters { waiter.resume(throwing: BatonError.unavailable("The gateway is shutting down")) }
        startContinuation.finish()
        subscriber.close()
        log.close()
        metrics.setTreeReaders(0)
    }

    // MARK: Clients

    /// Registers a client of `treeID` and returns where its live feed starts.
    ///
    /// - Parameter disconnect: closes the client's connection (when it fell behind and its session
    ///   did not end within ``Settings/overflowGrace``).
    /// - Throws: `unavailable` when the tree's position cannot be read or the gateway stops.
    func attach(_ treeID: String, disconnect: @escaping @Sendable () -> Void = {}) async throws -> Attachment {
        let feed = ClientFeed(limit: settings.clientBufferBytes)
        enum Outcome { case ready(StreamID, UInt64), wait(UInt64, UInt64), stopped }
        let outcome = state.withLock { state -> Outcome in
            if state.stopped { return .stopped }
            state.nextSerial += 1
            let clientID = state.nextSerial
            if state.readers[treeID] == nil {
                state.nextSerial += 1
                let (wake, wakeContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
                state.readers[treeID] = Reader(serial: state.nextSerial, wake: wakeContinuation)
                startContinuation.yield(ReaderStart(treeID: treeID, serial: state.nextSerial, wake: wake))
            }
            state.readers[treeID]!.clients[clientID] = Client(feed: feed, disconnect: disconnect)
            state.readers[treeID]!.idleSince = nil
            if let position = state.readers[treeID]!.position { return .ready(position, clientID) }
            return .wait(clientID, state.readers[treeID]!.serial)
        }
        metrics.setTreeReaders(readerCount)
        switch outcome {
        case .stopped:
            feed.finish()
            throw BatonError.unavailable("The gateway is shutting down")
        case .ready(let position, let clientID):
            return Attachment(treeID: treeID, clientID: clientID, position: position, feed: feed)
        case .wait(let clientID, let serial):
            do {
                let position = try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<StreamID, any Error>) in
                    let known = state.withLock { state -> StreamID?? in
                        guard let reader = state.readers[treeID], reader.serial == serial else { return .some(nil) }
                        if let position = reader.position { return position }
                        state.readers[treeID]!.waiters.append(waiter)
                        return nil
                    }
                    switch known {
                    case .some(.some(let position)): waiter.resume(returning: position)
                    case .some(.none): waiter.resume(throwing: BatonError.unavailable("The tree's event stream cannot be read"))
                    case .none: break
                    }
                }
                return Attachment(treeID: treeID, clientID: clientID, position: position, feed: feed)
            } catch {
                detach(treeID: treeID, clientID: clientID)
                feed.finish()
                throw error
            }
        }
    }

    /// Removes a client and ends its feed.
    func detach(_ attachment: Attachment) {
        detach(treeID: attachment.treeID, clientID: attachment.clientID)
    }

    private func detach(treeID: String, clientID: UInt64) {
        let client = state.withLock { state -> Client? in
            guard let client = state.readers[treeID]?.clients.removeValue(forKey: clientID) else { return nil }
            if state.readers[treeID]!.clients.isEmpty { state.readers[treeID]!.idleSince = .now }
            return client
        }
        client?.feed.finish()
    }

    /// Readers running now.
    var readerCount: Int { state.withLock { $0.readers.count } }

    // MARK: Readers

    private func runReader(_ start: ReaderStart) async {
        let treeID = start.treeID
        // Subscribed (and registered) before its position is read: a nudge for anything after it
        // wakes it. Without the subscription the reader still follows, on ticks.
        do {
            try await subscriber.ssubscribe([keys.treeChannel(treeID)])
        } catch {
            logger.debug("cannot subscribe to a tree's nudges; following it on ticks",
                         metadata: ["baton.tree_id": "\(treeID)", "baton.error": "\(error)"])
        }
        defer {
            if state.withLock({ $0.readers[treeID] == nil }) {
                let subscriber = self.subscriber, channel = keys.treeChannel(treeID)
                Task { try? await subscriber.sunsubscribe([channel]) }
            }
        }
        let position: StreamID
        do {
            position = try await log.lastID(treeID)
        } catch {
            logger.warning("cannot read a tree's event stream", metadata: ["baton.tree_id": "\(treeID)", "baton.error": "\(error)"])
            failReader(treeID, serial: start.serial, error)
            return
        }
        let waiters = state.withLock { state -> [CheckedContinuation<StreamID, any Error>] in
            guard state.readers[treeID]?.serial == start.serial else { return [] }
            state.readers[treeID]!.position = position
            let waiters = state.readers[treeID]!.waiters
            state.readers[treeID]!.waiters = []
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: position) }

        var current = position
        for await _ in start.wake {
            var full = true
            while full {
                let events: [TreeEvent]
                do {
                    events = try await log.read(treeID, after: current)
                } catch {
                    logger.debug("event read failed; retrying on the next tick", metadata: ["baton.tree_id": "\(treeID)", "baton.error": "\(error)"])
                    break
                }
                full = events.count == TreeEventLog.batch
                guard let last = events.last else { break }
                current = last.id
                fanOut(treeID, serial: start.serial, events)
            }
        }
    }

    private func fanOut(_ treeID: String, serial: UInt64, _ events: [TreeEvent]) {
        let clients = state.withLock { state -> [Client] in
            guard state.readers[treeID]?.serial == serial else { return [] }
            state.readers[treeID]!.position = events.last!.id
            return Array(state.readers[treeID]!.clients.values)
        }
        let bytes = ClientFeed.bytes(of: events)
        for client in clients where !client.feed.push(events, bytes: bytes) {
            logger.info(
                "a streaming client fell behind; its feed is dropped",
                metadata: ["baton.tree_id": "\(treeID)", "baton.buffer_bytes": "\(settings.clientBufferBytes)"])
        }
        metrics.addEventsDelivered(events.count * clients.count)
    }

    private func failReader(_ treeID: String, serial: UInt64, _ error: any Error) {
        let (clients, waiters) = state.withLock { state -> ([Client], [CheckedContinuation<StreamID, any Error>]) in
            guard let reader = state.readers[treeID], reader.serial == serial else { return ([], []) }
            state.readers.removeValue(forKey: treeID)
            reader.wake.finish()
            return (Array(reader.clients.values), reader.waiters)
        }
        for waiter in waiters { waiter.resume(throwing: BatonError.unavailable("The tree's event stream cannot be read: \(error)")) }
        for client in clients { client.feed.finish() }
        metrics.setTreeReaders(readerCount)
    }

    // MARK: Wake-ups

    private func routeNudges() async {
        for await event in subscriber.events {
            switch event {
            case .message(let message):
                guard let treeID = keys.treeID(ofChannel: message.channel) else { continue }
                state.withLock { state in _ = state.readers[treeID]?.wake.yield() }
            case .shardChannelMoved:
                continue  // the subscriber follows it; `.resubscribed` comes next
            case .resubscribed:
                state.withLock { state in
                    for reader in state.readers.values { reader.wake.yield() }
                }
            }
        }
    }

    private func tick() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: settings.tickInterval) } catch { return }
            let now = ContinuousClock.now
            let (clients, stopping) = state.withLock { state -> ([Client], Bool) in
                if state.stopped { return ([], true) }
                var clients: [Client] = []
                for (treeID, reader) in state.readers {
                    if let idle = reader.idleSince, now - idle >= settings.linger, reader.clients.isEmpty {
                        reader.wake.finish()
                        state.readers.removeValue(forKey: treeID)
                        continue
                    }
                    reader.wake.yield()
                    clients += reader.clients.values
                }
                return (clients, false)
            }
            if stopping { return }
            for client in clients {
                client.feed.tick()
                if client.feed.shouldDisconnect(after: settings.overflowGrace, now: now) {
                    logger.info("a streaming client that fell behind is stuck writing; closing its connection")
                    client.disconnect()
                }
            }
            metrics.setTreeReaders(readerCount)
        }
    }
}
