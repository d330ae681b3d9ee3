import RedisClient

/// What a tree script leaves for its caller to do across slots.
public struct TreeOutputs: Sendable, Hashable {
    /// A task that became ready: it goes into its executor's queue.
    public struct Ready: Sendable, Hashable {
        public var treeID: String
        public var taskID: String
        public var executor: String
        public var priority: Int
        /// The tree's user ('' for none): the queue takes users' tasks round-robin by weight.
        public var userID: String = ""
        /// The task's `concurrency_key` ('' for none).
        public var concurrencyKey: String = ""
    }

    /// A retry waiting for its backoff.
    public struct Delayed: Sendable, Hashable {
        public var ready: Ready
        public var dueMillis: Int64
    }

    /// A lease to drop (the attempt ended).
    public struct Lease: Sendable, Hashable {
        public var treeID: String
        public var taskID: String
        public var executor: String
    }

    /// A dependent in another tree that must learn about a dependency's state.
    public struct Notification: Sendable, Hashable {
        public var treeID: String
        public var taskID: String
        public var required: Bool
        public var dependencyID: String
        public var state: String
        public var result: String
        public var cause: String
    }

    /// A tree that finished, with its status.
    public struct Finished: Sendable, Hashable {
        public var treeID: String
        public var status: String
        /// When the finished tree expires (epoch ms), if it has a retention.
        public var expiresAt: Int64? = nil
    }

    public var ready: [Ready] = []
    public var delayed: [Delayed] = []
    public var leases: [Lease] = []
    public var notifications: [Notification] = []
    /// Trees that finished.
    public var finished: [Finished] = []

    public init() {}

    /// True when there is nothing to do.
    public var isEmpty: Bool {
        ready.isEmpty && delayed.isEmpty && leases.isEmpty && notifications.isEmpty
    }

    /// Adds the outputs of another script call.
    public mutating func merge(_ other: TreeOutputs) {
        ready += other.ready
        delayed += other.delayed
        leases += other.leases
        notifications += other.notifications
        finished += other.finished
    }

    /// Parses `{released, delayed, leases, notify, finished}` returned by a tree script.
    init(reply: RedisReply, treeID: String) {
        guard let parts = reply.array, parts.count >= 5 else { return }
        let released = parts[0].array?.map { $0.string ?? "" } ?? []
        for i in stride(from: 0, to: released.count - 4, by: 5) {
            ready.append(Ready(treeID: treeID, taskID: released[i + 2], executor: released[i],
                               priority: Int(released[i + 1]) ?? 2, userID: released[i + 3], concurrencyKey: released[i + 4]))
        }
        let delayedFields = parts[1].array?.map { $0.string ?? "" } ?? []
        for i in stride(from: 0, to: delayedFields.count - 5, by: 6) {
            delayed.append(Delayed(
                ready: Ready(treeID: treeID, taskID: delayedFields[i + 2], executor: delayedFields[i],
                             priority: Int(delayedFields[i + 1]) ?? 2, userID: delayedFields[i + 4],
                             concurrencyKey: delayedFields[i + 5]),
                dueMillis: Int64(delayedFields[i + 3]) ?? 0))
        }
        let leaseFields = parts[2].array?.map { $0.string ?? "" } ?? []
        for i in stride(from: 0, to: leaseFields.count - 1, by: 2) {
            leases.append(Lease(treeID: treeID, taskID: leaseFields[i + 1], executor: leaseFields[i]))
        }
        let notify = parts[3].array?.map { $0.string ?? "" } ?? []
        for i in stride(from: 0, to: notify.count - 6, by: 7) {
            notifications.append(Notification(
                treeID: notify[i], taskID: notify[i + 1], required: notify[i + 2] == "1",
                dependencyID: notify[i + 3], state: notify[i + 4], result: notify[i + 5], cause: notify[i + 6]))
        }
        if let status = parts[4].string, !status.isEmpty {
            let expiresAt = parts.count > 5 ? parts[5].string.flatMap { Int64($0) } : nil
            finished.append(Finished(treeID: treeID, status: status, expiresAt: expiresAt))
        }
    }
}
