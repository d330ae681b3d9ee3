import Synchronization

/// Sharded pub/sub (`SSUBSCRIBE`, Redis ≥ 7.0) that fits a cluster: a shard channel is routed
/// like a key, so a message published with `SPUBLISH` reaches only the node that serves the
/// channel's slot (and its replicas), not the whole cluster.
///
/// On a standalone server this is one subscriber connection. On a cluster it keeps one
/// ``RedisSubscriber`` per node that serves a subscribed channel, and checks every second that
/// each channel is still subscribed where its slot lives: after a failover or a resharding
/// (the server ends the subscription itself, ``RedisPubSubEvent/shardChannelMoved(_:)``) it
/// subscribes the channel on its new node and reports ``RedisPubSubEvent/resubscribed`` — pub/sub
/// is a nudge, so the consumer then recovers what it may have missed from streams or hashes.
public final class RedisShardedSubscriber: Sendable {
    /// Every message and re-routing, from every node. Ends when the subscriber is closed.
    public let events: AsyncStream<RedisPubSubEvent>
    private let continuation: AsyncStream<RedisPubSubEvent>.Continuation
    private let client: RedisClient
    private let configuration: RedisConfiguration

    private struct State {
        /// Where each channel is subscribed (`nil` node: the standalone server).
        var placement: [String: NodeAddress?] = [:]
        var subscribers: [NodeAddress?: RedisSubscriber] = [:]
        var forwarders: [Task<Void, Never>] = []
        var watcher: Task<Void, Never>?
        var closed = false
    }

    private let state = Mutex(State())

    init(client: RedisClient, configuration: RedisConfiguration) {
        self.client = client
        self.configuration = configuration
        (events, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(100_000))
    }

    deinit { close() }

    /// Subscribes to shard channels, each on the node of its slot; returns once confirmed.
    public func ssubscribe(_ channels: [String]) async throws {
        if channels.isEmpty { return }
        let router = try await self.router()
        var byNode: [NodeAddress?: [String]] = [:]
        for channel in channels {
            byNode[try node(of: channel, router), default: []].append(channel)
        }
        for (node, names) in byNode {
            let subscriber = try subscriber(for: node)
            state.withLock { for name in names { $0.placement[name] = node } }
            try await subscriber.ssubscribe(names)
        }
        if router != nil { startWatching() }
    }

    /// Unsubscribes from shard channels.
    public func sunsubscribe(_ channels: [String]) async throws {
        if channels.isEmpty { return }
        let byNode = state.withLock { state -> [NodeAddress?: [String]] in
            var byNode: [NodeAddress?: [String]] = [:]
            for channel in channels {
                if let node = state.placement.removeValue(forKey: channel) { byNode[node, default: []].append(channel) }
            }
            return byNode
        }
        for (node, names) in byNode {
            if let subscriber = state.withLock({ $0.subscribers[node] }) { try await subscriber.sunsubscribe(names) }
        }
    }

    /// Closes every node's subscriber and finishes ``events``.
    public func close() {
        let (subscribers, tasks) = state.withLock { state -> ([RedisSubscriber], [Task<Void, Never>]) in
            state.closed = true
            defer {
                state.subscribers.removeAll()
                state.forwarders.removeAll()
                state.watcher = nil
            }
            return (Array(state.subscribers.values), state.forwarders + [state.watcher].compactMap { $0 })
        }
        for task in tasks { task.cancel() }
        for subscriber in subscribers { subscriber.close() }
        continuation.finish()
    }

    // MARK: Routing

    /// The cluster's router, or `nil` on a standalone server.
    private func router() async throws -> ClusterRouter? {
        if case .cluster(let router) = try await client.resolvedMode() { return router }
        return nil
    }

    private func node(of channel: String, _ router: ClusterRouter?) throws -> NodeAddress? {
        guard let router else { return nil }
        let slot = ClusterSlot.of(channel)
        guard let owner = router.owner(of: slot) else {
            throw RedisError.connectFailed("no Redis Cluster master serves slot \(slot) of channel \(channel)")
        }
        return owner
    }

    /// The subscriber of a node, made (with a task forwarding its events) on first use.
    private func subscriber(for node: NodeAddress?) throws -> RedisSubscriber {
        var configuration = self.configuration
        if let node { configuration.endpoint = .tcp(host: node.host, port: node.port) }
        let made: RedisSubscriber? = state.withLock { state in
            if state.closed { return nil }
            if let existing = state.subscribers[node] { return existing }
            let subscriber = RedisSubscriber(configuration: configuration)
            state.subscribers[node] = subscriber
            let continuation = self.continuation
            state.forwarders.append(Task { [weak self] in
                for await event in subscriber.events {
                    if case .shardChannelMoved(let channel) = event {
                        Task { await self?.follow(moved: channel) }
                    }
                    continuation.yield(event)
                }
            })
            return subscriber
        }
        guard let made else { throw RedisError.closed }
        return made
    }

    /// On a cluster: every second, moves channels whose slot now lives elsewhere.
    private func startWatching() {
        state.withLock { state in
            guard state.watcher == nil, !state.closed else { return }
            state.watcher = Task { [weak self] in
                var round = 0
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    round += 1
                    await self?.reroute(refresh: round % 5 == 0)
                }
            }
        }
    }

    /// The server ended a channel's subscription (its slot moved): subscribe it where the fresh
    /// map says, retrying for a while.
    private func follow(moved channel: String) async {
        guard state.withLock({ $0.placement.removeValue(forKey: channel) }) != nil else { return }
        for attempt in 0..<20 {
            if attempt > 0 { try? await Task.sleep(for: .milliseconds(250)) }
            try? await router()?.refreshTopology()
            do {
                try await ssubscribe([channel])
                continuation.yield(.resubscribed)
                return
            } catch {
                continue
            }
        }
    }

    /// Subscribes every channel whose slot is served by another node than the one it is
    /// subscribed on there, and reports ``RedisPubSubEvent/resubscribed`` if any moved.
    func reroute(refresh: Bool) async {
        guard let router = try? await router() else { return }
        if refresh { try? await router.refreshTopology() }
        let moved = state.withLock { state -> [(String, NodeAddress?)] in
            state.placement.compactMap { channel, node in
                let owner = router.owner(of: ClusterSlot.of(channel))
                return owner != nil && owner != node ? (channel, node) : nil
            }
        }
        if moved.isEmpty { return }
        for (channel, old) in moved {
            if let subscriber = state.withLock({ $0.subscribers[old] }) { try? await subscriber.sunsubscribe([channel]) }
            state.withLock { _ = $0.placement.removeValue(forKey: channel) }
        }
        do {
            try await ssubscribe(moved.map(\.0))
            continuation.yield(.resubscribed)
        } catch {
            // Put back as they were: the next round tries again.
            state.withLock { for (channel, old) in moved { $0.placement[channel] = old } }
        }
    }
}

extension RedisClient {
    /// A sharded pub/sub subscriber (``RedisShardedSubscriber``).
    public func makeShardedSubscriber(name: String? = nil) -> RedisShardedSubscriber {
        var configuration = self.configuration
        if let name { configuration.clientName = name }
        return RedisShardedSubscriber(client: self, configuration: configuration)
    }
}
