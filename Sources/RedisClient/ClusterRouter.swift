import Synchronization

/// Routes commands over a Redis Cluster: one ``NodePool`` per master, chosen by the slot of each
/// command's keys; pipelines split by node and reassembled in the caller's order.
///
/// Redirections are followed: `MOVED` records the slot's new master (and refreshes the whole map
/// in the background), `ASK` sends `ASKING` and the command to the importing node once, and
/// `TRYAGAIN` / `CLUSTERDOWN` are retried with backoff. A node that cannot be reached makes the
/// router reload the map from any node that answers and try again, until the configured
/// reconnect timeout runs out: that is how a failover is survived. A command that broke in
/// flight is not sent again (it may have run); its error is thrown, as on a standalone server.
final class ClusterRouter: Sendable {
    /// Sends some of a pipeline's commands (by index) to one node in one round trip; those in
    /// `asking` are preceded by `ASKING`. Returns one reply per index, in order.
    typealias NodeSend = @Sendable (_ pool: NodePool, _ indices: [Int], _ asking: Set<Int>) async throws -> [RedisReply]

    private struct State {
        var topology: ClusterTopology
        var pools: [NodeAddress: NodePool] = [:]
        var refresh: Task<Void, any Error>?
        var closed = false
    }

    /// Template of every node's connections (endpoint replaced per node; short reconnect, the
    /// router retries instead).
    private let nodeConfiguration: RedisConfiguration
    /// How long the router keeps retrying a node that cannot be reached.
    private let retryTimeout: Duration
    private let seeds: [NodeAddress]
    private let poolSize: Int
    private let state: Mutex<State>

    /// Connects through the first seed that answers and loads the slot map.
    init(configuration: RedisConfiguration, seeds: [NodeAddress], poolSize: Int) async throws {
        var node = configuration
        node.reconnectTimeout = min(configuration.reconnectTimeout, .milliseconds(300))
        nodeConfiguration = node
        retryTimeout = configuration.reconnectTimeout
        self.seeds = seeds
        self.poolSize = poolSize
        state = Mutex(State(topology: ClusterTopology()))
        try await refreshTopology()
    }

    // MARK: Topology

    /// The master that serves `slot` now, if any.
    func owner(of slot: Int) -> NodeAddress? {
        state.withLock { $0.topology.owner(of: slot) }
    }

    /// Every master of the current map.
    var masters: [NodeAddress] {
        state.withLock { $0.topology.masters }
    }

    /// The pool of a node, made on first use.
    func pool(for address: NodeAddress) throws(RedisError) -> NodePool {
        let pool: NodePool? = state.withLock { state in
            if state.closed { return nil }
            if let pool = state.pools[address] { return pool }
            let pool = NodePool(address: address, configuration: nodeConfiguration, size: poolSize)
            state.pools[address] = pool
            return pool
        }
        guard let pool else { throw .closed }
        return pool
    }

    /// Reloads the slot map (one reload at a time; concurrent callers wait for the same one).
    func refreshTopology() async throws {
        let task = state.withLock { current in
            if let running = current.refresh { return running }
            let task = Task { [self] in
                defer { state.withLock { $0.refresh = nil } }
                try await loadTopology()
            }
            current.refresh = task
            return task
        }
        try await task.value
    }

    /// Asks the known masters, then the seeds, for the map; the first complete answer wins.
    private func loadTopology() async throws {
        var candidates: [NodeAddress] = []
        for address in masters + seeds where !candidates.contains(address) { candidates.append(address) }
        var lastError: any Error = RedisError.connectFailed("no Redis Cluster node answered (tried \(candidates))")
        for address in candidates {
            do {
                let topology = try await fetchTopology(from: address)
                if topology.coveredSlots == 0 { continue }
                state.withLock { $0.topology = topology }
                return
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    /// `CLUSTER SHARDS` from one node, or `CLUSTER SLOTS` where it is unknown (Redis < 7.0).
    private func fetchTopology(from address: NodeAddress) async throws -> ClusterTopology {
        let connection = try pool(for: address).connection
        let shards = try await connection.pipeline([RedisCommand("CLUSTER", "SHARDS")])[0]
        if shards.errorMessage == nil, let topology = ClusterTopology.parse(shards: shards, defaultHost: address.host) {
            return topology
        }
        let slots = try await connection.send(RedisCommand("CLUSTER", "SLOTS"))
        guard let topology = ClusterTopology.parse(slots: slots, defaultHost: address.host) else {
            throw RedisError.protocolError("unexpected CLUSTER SLOTS reply from \(address)")
        }
        return topology
    }

    /// Follows a `MOVED slot host:port` reply: the slot is served there now; the rest of the map
    /// is reloaded in the background (a resharding moves many slots).
    func noteMoved(slot: Int, to address: NodeAddress) {
        state.withLock { $0.topology.assign(slot...slot, to: address) }
        Task { try? await refreshTopology() }
    }

    func close() {
        let pools = state.withLock { state in
            state.closed = true
            return Array(state.pools.values)
        }
        for pool in pools { pool.close() }
    }

    // MARK: Routing

    /// A cluster redirection or transient refusal in an error reply.
    enum Redirect: Equatable {
        case moved(slot: Int, NodeAddress)
        case ask(slot: Int, NodeAddress)
        /// `TRYAGAIN` (a multi-key command during resharding) or `CLUSTERDOWN`.
        case retryLater

        init?(_ message: String, defaultHost: String) {
            if message.hasPrefix("TRYAGAIN") || message.hasPrefix("CLUSTERDOWN") {
                self = .retryLater
                return
            }
            let parts = message.split(separator: " ")
            guard parts.count == 3, let slot = Int(parts[1]), (0..<ClusterSlot.count).contains(slot),
                  let address = NodeAddress(parsing: parts[2], defaultHost: defaultHost)
            else { return nil }
            switch parts[0] {
            case "MOVED": self = .moved(slot: slot, address)
            case "ASK": self = .ask(slot: slot, address)
            default: return nil
            }
        }
    }

    /// Sends commands whose slots are given (`nil`: any node) and returns their replies in order.
    /// Redirected commands are sent again where Redis says; the others keep their replies.
    func route(slots: [Int?], send: @escaping NodeSend) async throws -> [RedisReply] {
        var replies = [RedisReply?](repeating: nil, count: slots.count)
        var pending = Array(slots.indices)
        var asking: [Int: NodeAddress] = [:]
        let deadline = ContinuousClock.now + retryTimeout
        var delay = Duration.milliseconds(10)
        var round = 0
        while !pending.isEmpty {
            round += 1
            var groups: [NodeAddress: [Int]] = [:]
            var unserved: [Int] = []
            let anyNode = masters.first ?? seeds[0]
            for index in pending {
                let slot = slots[index]
                if let address = asking[index] ?? (slot.map { owner(of: $0) } ?? anyNode) {
                    groups[address, default: []].append(index)
                } else {
                    unserved.append(index)
                }
            }
            @Sendable func sendGroup(_ address: NodeAddress, _ indices: [Int], _ asked: Set<Int>) async -> (NodeAddress, [Int], Result<[RedisReply], any Error>) {
                do {
                    return (address, indices, .success(try await send(try self.pool(for: address), indices, asked)))
                } catch {
                    return (address, indices, .failure(error))
                }
            }
            let results: [(NodeAddress, [Int], Result<[RedisReply], any Error>)]
            if groups.count == 1, let (address, indices) = groups.first {
                // One node (every single command, most pipelines): no task group on the hot path.
                results = [await sendGroup(address, indices, Set(indices.filter { asking[$0] != nil }))]
            } else {
                results = await withTaskGroup(of: (NodeAddress, [Int], Result<[RedisReply], any Error>).self) { group in
                    for (address, indices) in groups {
                        let asked = Set(indices.filter { asking[$0] != nil })
                        group.addTask { await sendGroup(address, indices, asked) }
                    }
                    return await group.reduce(into: []) { $0.append($1) }
                }
            }
            pending = unserved
            var reload = !unserved.isEmpty
            var wait = !unserved.isEmpty
            for (address, indices, result) in results {
                switch result {
                case .success(let got):
                    for (index, reply) in zip(indices, got) {
                        replies[index] = reply
                        asking[index] = nil
                        guard let message = reply.errorMessage, let redirect = Redirect(message, defaultHost: address.host) else {
                            continue
                        }
                        pending.append(index)
                        switch redirect {
                        case .moved(let slot, let target): noteMoved(slot: slot, to: target)
                        case .ask(_, let target): asking[index] = target
                        case .retryLater: wait = true
                        }
                    }
                case .failure(let error):
                    guard let redisError = error as? RedisError, case .connectFailed = redisError else {
                        if let redisError = error as? RedisError, redisError.isConnectionError {
                            Task { try? await refreshTopology() }  // the node may have failed over
                        }
                        throw error
                    }
                    // Never sent: safe to send again once the map says where.
                    if ContinuousClock.now > deadline { throw error }
                    pending += indices
                    reload = true
                    wait = true
                }
            }
            if pending.isEmpty { break }
            pending.sort()
            if round >= 32 || ContinuousClock.now > deadline {
                // Still redirected or refused: the last error replies stand (or nothing answered).
                if pending.contains(where: { replies[$0] == nil }) {
                    throw RedisError.connectFailed("Redis Cluster did not serve slot(s) \(Set(pending.compactMap { slots[$0] }).sorted().prefix(5)) in time")
                }
                break
            }
            if reload { try? await refreshTopology() }
            if wait {
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .milliseconds(400))
            }
        }
        return replies.map { $0 ?? .error("ERR no reply") }
    }
}
