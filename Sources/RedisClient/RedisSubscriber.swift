import Foundation
import Synchronization

/// A message received on a subscribed channel.
public struct RedisPubSubMessage: Sendable, Hashable {
    /// The channel it was published on.
    public let channel: String
    /// The pattern that matched, for pattern subscriptions.
    public let pattern: String?
    /// The payload, binary-safe.
    public let payload: [UInt8]

    /// The payload as UTF-8 text.
    public var text: String { String(decoding: payload, as: UTF8.self) }
}

/// What a subscriber delivers.
public enum RedisPubSubEvent: Sendable, Hashable {
    /// A published message.
    case message(RedisPubSubMessage)
    /// The connection was re-established and every subscription renewed. Messages published
    /// while it was down are lost: pub/sub is a nudge, recover the truth from streams or hashes.
    case resubscribed
    /// The server ended a shard channel subscription by itself: the channel's slot moved to
    /// another node. ``RedisShardedSubscriber`` subscribes it again there.
    case shardChannelMoved(String)
}

/// A pub/sub subscriber on a connection and a thread of its own. Subscriptions survive a lost
/// connection: the subscriber reconnects with backoff, subscribes again and reports
/// ``RedisPubSubEvent/resubscribed``.
public final class RedisSubscriber: Sendable {
    /// Every message and reconnection, in order. Ends when the subscriber is closed.
    public let events: AsyncStream<RedisPubSubEvent>
    private let core: SubscriberCore

    /// Starts the subscriber thread; it connects once there is something to subscribe to.
    public init(configuration: RedisConfiguration) {
        let (stream, continuation) = AsyncStream.makeStream(
            of: RedisPubSubEvent.self, bufferingPolicy: .bufferingNewest(100_000))
        events = stream
        core = SubscriberCore(configuration: configuration, continuation: continuation)
        let core = self.core
        let thread = Thread {
            HiredisSocket.ignoreBrokenPipeOnThisThread()
            SubscriberWorker(core: core).run()
        }
        thread.name = "redis-subscriber"
        thread.start()
    }

    deinit { core.close() }

    /// Subscribes to channels; returns once Redis confirmed them.
    public func subscribe(_ channels: [String]) async throws {
        try await change(.subscribe, channels)
    }

    /// Subscribes to glob-style patterns; returns once Redis confirmed them.
    public func psubscribe(_ patterns: [String]) async throws {
        try await change(.psubscribe, patterns)
    }

    /// Unsubscribes from channels.
    public func unsubscribe(_ channels: [String]) async throws {
        try await change(.unsubscribe, channels)
    }

    /// Unsubscribes from patterns.
    public func punsubscribe(_ patterns: [String]) async throws {
        try await change(.punsubscribe, patterns)
    }

    /// Subscribes to shard channels (`SSUBSCRIBE`, Redis ≥ 7.0; one command per channel, so
    /// channels of different slots may be given); returns once Redis confirmed them. On a
    /// cluster, a shard channel must be subscribed on the node that serves its slot: use
    /// ``RedisClient/makeShardedSubscriber(name:)``, which routes them.
    public func ssubscribe(_ channels: [String]) async throws {
        try await change(.ssubscribe, channels)
    }

    /// Unsubscribes from shard channels.
    public func sunsubscribe(_ channels: [String]) async throws {
        try await change(.sunsubscribe, channels)
    }

    /// Stops the thread, closes the connection and finishes ``events``.
    public func close() {
        core.close()
    }

    private func change(_ kind: SubscriberCore.Kind, _ names: [String]) async throws {
        if names.isEmpty { return }
        let core = self.core
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            core.request(SubscriberCore.Change(kind: kind, names: names, continuation: continuation))
        }
    }
}

final class SubscriberCore: Sendable {
    enum Kind: String, Sendable {
        case subscribe = "SUBSCRIBE", psubscribe = "PSUBSCRIBE", ssubscribe = "SSUBSCRIBE"
        case unsubscribe = "UNSUBSCRIBE", punsubscribe = "PUNSUBSCRIBE", sunsubscribe = "SUNSUBSCRIBE"
    }

    struct Change: Sendable {
        let kind: Kind
        let names: [String]
        let continuation: CheckedContinuation<Void, any Error>?
    }

    struct State {
        var pending: [Change] = []
        var closed = false
    }

    let configuration: RedisConfiguration
    let continuation: AsyncStream<RedisPubSubEvent>.Continuation
    let state = Mutex(State())
    let wakeRead: Int32
    let wakeWrite: Int32

    init(configuration: RedisConfiguration, continuation: AsyncStream<RedisPubSubEvent>.Continuation) {
        self.configuration = configuration
        self.continuation = continuation
        (wakeRead, wakeWrite) = WakePipe.make()
    }

    // Closed only once nothing can signal the pipe any more (see `ConnectionCore`).
    deinit { WakePipe.close((wakeRead, wakeWrite)) }

    func request(_ change: Change) {
        let accepted = state.withLock { state -> Bool in
            if state.closed { return false }
            state.pending.append(change)
            return true
        }
        if accepted { WakePipe.signal(wakeWrite) } else { change.continuation?.resume(throwing: RedisError.closed) }
    }

    func close() {
        state.withLock { $0.closed = true }
        WakePipe.signal(wakeWrite)
    }

    var interruptRead: Bool {
        state.withLock { $0.closed || !$0.pending.isEmpty }
    }
}

/// The subscriber thread: keeps the connection, the subscription sets and the confirmations.
private final class SubscriberWorker {
    private let core: SubscriberCore
    private let socket: HiredisSocket
    private var channels: Set<String> = []
    private var patterns: Set<String> = []
    private var shardChannels: Set<String> = []
    /// Confirmations still expected, in order, with whom to tell when they have all arrived
    /// (a caller, or the event stream for a renewal after a reconnect).
    private var awaiting: [(remaining: Int, continuation: CheckedContinuation<Void, any Error>?, resubscribed: Bool)] = []
    private var everConnected = false

    init(core: SubscriberCore) {
        self.core = core
        self.socket = HiredisSocket(configuration: core.configuration)
    }

    func run() {
        var delay: Int32 = 20
        while !isClosed {
            if !socket.isConnected && !(channels.isEmpty && patterns.isEmpty && shardChannels.isEmpty && !hasPending) {
                do {
                    try connectAndRenew()
                    delay = 20
                } catch {
                    failAwaiting(with: error)  // renewals of a failed attempt must not linger
                    failPending(with: error)
                    sleep(milliseconds: delay)
                    delay = min(delay * 2, 1000)
                    continue
                }
            }
            if !socket.isConnected {
                sleep(milliseconds: -1)
                continue
            }
            do {
                try sendPendingChanges()
                let reply = try socket.readReply(deadline: nil, wakeFD: core.wakeRead) { core.interruptRead }
                handle(reply)
            } catch RedisError.closed {
                continue  // woken for a new change or a close; the connection is still in step
            } catch {
                socket.close()
                failAwaiting(with: error)
            }
        }
        socket.close()
        failPending(with: RedisError.closed)
        failAwaiting(with: RedisError.closed)
        core.continuation.finish()
    }

    private var isClosed: Bool { core.state.withLock { $0.closed } }
    private var hasPending: Bool { core.state.withLock { !$0.pending.isEmpty } }

    private func connectAndRenew() throws {
        try socket.connect()
        // Shard channels one command each: channels of different slots may not share one.
        let renewal = ([("SUBSCRIBE", channels.sorted()), ("PSUBSCRIBE", patterns.sorted())]
            + shardChannels.sorted().map { ("SSUBSCRIBE", [$0]) }).filter { !$0.1.isEmpty }
        for (index, (command, names)) in renewal.enumerated() {
            socket.append(RedisCommand([command] + names))
            // `.resubscribed` is yielded once Redis confirmed the last renewal, so a message
            // published after the event is seen is sure to be delivered.
            awaiting.append((names.count, nil, everConnected && index == renewal.count - 1))
        }
        if !renewal.isEmpty {
            try socket.flush(deadline: .now + core.configuration.commandTimeout, wakeFD: -1)
        } else if everConnected {
            core.continuation.yield(.resubscribed)
        }
        everConnected = true
    }

    private func sendPendingChanges() throws {
        let changes = core.state.withLock { state in
            let taken = state.pending
            state.pending.removeAll()
            return taken
        }
        if changes.isEmpty { return }
        for change in changes {
            remember(change)
            if change.kind == .ssubscribe || change.kind == .sunsubscribe {
                // One command per shard channel; the caller is told when the last is confirmed.
                for (index, name) in change.names.enumerated() {
                    socket.append(RedisCommand([change.kind.rawValue, name]))
                    awaiting.append((1, index == change.names.count - 1 ? change.continuation : nil, false))
                }
            } else {
                socket.append(RedisCommand([change.kind.rawValue] + change.names))
                awaiting.append((change.names.count, change.continuation, false))
            }
        }
        try socket.flush(deadline: .now + core.configuration.commandTimeout, wakeFD: -1)
    }

    private func handle(_ reply: RedisReply) {
        guard let parts = reply.array, let kind = parts.first?.string else { return }
        switch kind {
        case "message" where parts.count == 3:
            core.continuation.yield(.message(RedisPubSubMessage(
                channel: parts[1].string ?? "", pattern: nil, payload: parts[2].bytes ?? [])))
        case "pmessage" where parts.count == 4:
            core.continuation.yield(.message(RedisPubSubMessage(
                channel: parts[2].string ?? "", pattern: parts[1].string, payload: parts[3].bytes ?? [])))
        case "smessage" where parts.count == 3:
            core.continuation.yield(.message(RedisPubSubMessage(
                channel: parts[1].string ?? "", pattern: nil, payload: parts[2].bytes ?? [])))
        case "sunsubscribe" where awaiting.isEmpty:
            // Not asked for: the channel's slot moved to another node (resharding, failover).
            // Forget it here and say so; the owner subscribes it where it lives now.
            if let channel = parts.dropFirst().first?.string {
                shardChannels.remove(channel)
                core.continuation.yield(.shardChannelMoved(channel))
            }
        case "subscribe", "psubscribe", "unsubscribe", "punsubscribe", "ssubscribe", "sunsubscribe":
            guard !awaiting.isEmpty else { return }
            awaiting[0].remaining -= 1
            if awaiting[0].remaining <= 0 {
                let done = awaiting.removeFirst()
                done.continuation?.resume()
                if done.resubscribed { core.continuation.yield(.resubscribed) }
            }
        default:
            break
        }
    }

    private func failAwaiting(with error: any Error) {
        for entry in awaiting { entry.continuation?.resume(throwing: error) }
        awaiting.removeAll()
    }

    /// Changes requested while Redis is unreachable fail now, but the names are kept, so the
    /// subscription is made once the connection comes back.
    private func failPending(with error: any Error) {
        let changes = core.state.withLock { state in
            let taken = state.pending
            state.pending.removeAll()
            return taken
        }
        for change in changes {
            remember(change)
            change.continuation?.resume(throwing: error)
        }
    }

    /// Keeps the subscription sets as the changes ask (renewed after every reconnect).
    private func remember(_ change: SubscriberCore.Change) {
        switch change.kind {
        case .subscribe: channels.formUnion(change.names)
        case .psubscribe: patterns.formUnion(change.names)
        case .ssubscribe: shardChannels.formUnion(change.names)
        case .unsubscribe: channels.subtract(change.names)
        case .punsubscribe: patterns.subtract(change.names)
        case .sunsubscribe: shardChannels.subtract(change.names)
        }
    }

    private func sleep(milliseconds: Int32) {
        var fds = [pollfd(fd: core.wakeRead, events: Int16(POLLIN), revents: 0)]
        _ = poll(&fds, 1, milliseconds)
        if fds[0].revents != 0 { WakePipe.drain(core.wakeRead) }
    }
}
