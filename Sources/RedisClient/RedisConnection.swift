import Foundation
import Synchronization

/// One connection to Redis, owned by its own thread.
///
/// Callers on any task `await` replies; the connection thread writes every request queued since
/// its last turn in one batch and reads the replies in order, so concurrent callers are pipelined
/// automatically. Whenever it has parsed every reply received and must wait for more, it first
/// writes what was queued meanwhile, so Redis always has work. hiredis never runs on Swift's
/// cooperative pool: blocking commands such as `BZPOPMIN` or `XREADGROUP … BLOCK` only block
/// this connection's thread.
///
/// A request to an idle connection is written by the caller itself (one non-blocking `send`
/// of the encoded command), so Redis works on it while the connection thread wakes up to read
/// the reply, instead of only after: a thread wake-up less in the latency of a sequential round
/// trip. (Polling for the reply before sleeping was tried and left out: on 2 cores it made one
/// round trip faster, 76 µs instead of 103, but a chain step slower, 2.2 ms instead of 1.2 —
/// the spinning threads took the CPU the reply needed.)
///
/// When Redis goes away, the commands in flight fail with ``RedisError/connectionLost(_:)`` and
/// the next command reconnects (with backoff, up to ``RedisConfiguration/reconnectTimeout``),
/// re-applying AUTH, SELECT and the client name.
public final class RedisConnection: Sendable {
    private let core: ConnectionCore

    /// Opens a connection thread. The TCP connection itself is made on first use.
    ///
    /// - Parameter interruptible: a dedicated connection for blocking commands: cancelling the
    ///   waiting task aborts the command (the connection is reset and reconnects on next use).
    public init(configuration: RedisConfiguration, interruptible: Bool = false) {
        core = ConnectionCore(configuration: configuration, interruptible: interruptible)
        let core = self.core
        let thread = Thread {
            HiredisSocket.ignoreBrokenPipeOnThisThread()
            ConnectionWorker(core: core).run()
        }
        thread.name = "redis-connection"
        thread.start()
    }

    deinit { core.close() }

    /// Sends one command and returns its reply; an error reply is thrown as ``RedisError/server(_:)``.
    ///
    /// - Parameter timeout: how long to wait for the reply (default: the configured command
    ///   timeout). Blocking commands pass their block time plus a margin.
    @discardableResult
    public func send(_ command: RedisCommand, timeout: Duration? = nil) async throws -> RedisReply {
        let replies = try await submit([command], timeout: timeout)
        return try replies[0].throwingError()
    }

    /// Sends several commands in one round trip; replies come back in order, error replies in place.
    public func pipeline(_ commands: [RedisCommand], timeout: Duration? = nil) async throws -> [RedisReply] {
        if commands.isEmpty { return [] }
        return try await submit(commands, timeout: timeout)
    }

    /// Closes the connection: queued and in-flight commands fail with ``RedisError/closed``.
    public func close() {
        core.close()
    }

    private func submit(_ commands: [RedisCommand], timeout: Duration?) async throws -> [RedisReply] {
        try Task.checkCancellation()
        let core = self.core
        // Only a dedicated connection aborts on cancellation, and it does so per request: the
        // flag travels with the request, so a cancellation that lands before the connection
        // thread has taken the request is not lost, and a late one never hits the next request.
        let cancellation = core.interruptible ? CancellationFlag() : nil
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                core.enqueue(ConnectionCore.Request(
                    commands: commands, timeout: timeout, cancellation: cancellation, continuation: continuation))
            }
        } onCancel: {
            if let cancellation { core.interrupt(cancellation) }
        }
    }
}

/// Set when the task waiting for a request on a dedicated connection is cancelled.
final class CancellationFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .acquiring) }
    func set() { flag.store(true, ordering: .releasing) }
}

/// State shared between callers and the connection thread.
final class ConnectionCore: Sendable {
    struct Request: Sendable {
        let commands: [RedisCommand]
        let timeout: Duration?
        let cancellation: CancellationFlag?
        let continuation: CheckedContinuation<[RedisReply], any Error>
        /// Set when the caller wrote the start of the request itself: what is left to write
        /// (empty when it all went out). `nil`: the connection thread writes all of it.
        var unsent: ArraySlice<UInt8>? = nil

        var isCancelled: Bool { cancellation?.isSet == true }
    }

    struct State {
        var queue: [Request] = []
        var closed = false
        /// The thread found the queue empty and waits on the pipe for the next request.
        var sleeping = false
        /// While the thread sleeps with a connected socket and nothing in flight: the socket,
        /// which the next caller may write its request to itself (once; -1 otherwise).
        var idleSocket: Int32 = -1
        /// When the thread last received a reply on that socket.
        var idleSince = ContinuousClock.now
    }

    /// The largest request a caller writes itself (encoded); larger ones go to the thread.
    static let directWriteLimit = 16 * 1024

    let configuration: RedisConfiguration
    let interruptible: Bool
    let state = Mutex(State())
    let wakeRead: Int32
    let wakeWrite: Int32

    init(configuration: RedisConfiguration, interruptible: Bool) {
        self.configuration = configuration
        self.interruptible = interruptible
        (wakeRead, wakeWrite) = WakePipe.make()
    }

    // The pipe is closed only once nothing can signal it any more: were the thread to close it
    // on exit, a later `close()` (say, from `deinit`) would write to a descriptor number that
    // may by then belong to another connection's socket, corrupting its protocol stream.
    deinit { WakePipe.close((wakeRead, wakeWrite)) }

    func enqueue(_ request: Request) {
        var request = request
        let (accepted, wake) = state.withLock { state -> (Bool, Bool) in
            if state.closed { return (false, false) }
            if state.sleeping, state.idleSocket >= 0, state.queue.isEmpty,
               configuration.idleCheck.map({ ContinuousClock.now - state.idleSince < $0 }) ?? true {
                // Under the lock, so the thread cannot wake and write meanwhile; only the first
                // request: the next ones queue behind it as usual.
                request.unsent = Self.writeDirectly(request.commands, to: state.idleSocket)
                state.idleSocket = -1
            }
            state.queue.append(request)
            defer { state.sleeping = false }
            return (true, state.sleeping)
        }
        if !accepted {
            request.continuation.resume(throwing: RedisError.closed)
        } else if wake {
            // Only a sleeping thread needs the pipe: a busy one takes the queue on its next
            // turn. Saves a write, a wake-up and a read per request under load.
            WakePipe.signal(wakeWrite)
        }
    }

    /// Writes small commands to an idle socket without blocking. Returns what is left to write,
    /// or `nil` when nothing was written (too large, or the socket would block or failed: the
    /// connection thread then writes it all, and sees any error itself).
    private static func writeDirectly(_ commands: [RedisCommand], to fd: Int32) -> ArraySlice<UInt8>? {
        var size = 0
        for command in commands {
            size += 16 * command.arguments.count
            for argument in command.arguments { size += argument.count }
            if size > directWriteLimit { return nil }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size)
        for command in commands { command.encoded(into: &bytes) }
        let sent = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
        return sent > 0 ? bytes[sent...] : nil
    }

    /// Marks a request cancelled and wakes the thread, which aborts it if it is in flight.
    func interrupt(_ cancellation: CancellationFlag) {
        cancellation.set()
        WakePipe.signal(wakeWrite)
    }

    func close() {
        state.withLock { $0.closed = true }
        WakePipe.signal(wakeWrite)
    }

    /// Takes every queued request. When there is none, the thread is marked sleeping (under
    /// the same lock), so the next ``enqueue(_:)`` signals the pipe, and `idleSocket` (a
    /// connected socket with nothing in flight, or -1) is offered to the next caller to write to.
    func takeBatch(idleSocket: Int32) -> (requests: [Request], closed: Bool) {
        state.withLock { state in
            let batch = state.queue
            state.queue.removeAll()
            state.sleeping = batch.isEmpty && !state.closed
            state.idleSocket = state.sleeping && !interruptible ? idleSocket : -1
            state.idleSince = .now
            return (batch, state.closed)
        }
    }

    /// Takes the queued requests while the thread is busy (it is not marked sleeping); none once
    /// the connection is closed (``takeBatch()`` fails them).
    func takeQueued() -> [Request] {
        state.withLock { state in
            if state.closed || state.queue.isEmpty { return [] }
            let taken = state.queue
            state.queue.removeAll()
            return taken
        }
    }

    var isClosed: Bool {
        state.withLock { $0.closed }
    }
}

/// The loop that runs on a connection's own thread. Owns the hiredis context.
private final class ConnectionWorker {
    private let core: ConnectionCore
    private let socket: HiredisSocket
    /// When the last reply arrived (an idle connection is checked before it is used again).
    private var lastReply = ContinuousClock.now

    init(core: ConnectionCore) {
        self.core = core
        self.socket = HiredisSocket(configuration: core.configuration)
    }

    func run() {
        while true {
            let (batch, closed) = core.takeBatch(idleSocket: socket.isConnected ? socket.fileDescriptor : -1)
            if closed {
                fail(batch[...], with: RedisError.closed)
                break
            }
            if batch.isEmpty {
                idle(milliseconds: -1)
                continue
            }
            process(batch)
        }
        socket.close()
    }

    private func process(_ batch: [ConnectionCore.Request]) {
        var batch = batch
        if core.interruptible {
            // Requests cancelled before they were sent are answered without touching Redis.
            fail(batch.filter(\.isCancelled)[...], with: CancellationError())
            batch.removeAll(where: \.isCancelled)
            if batch.isEmpty { return }
        }
        let shouldAbort = { [core] in core.isClosed || (core.interruptible && batch.contains(where: \.isCancelled)) }
        // A connection idle for a while may have been closed by the server meanwhile (a restart,
        // a failover): found out now, the batch goes to a fresh connection instead of being lost.
        // (A caller writes to the socket itself only when it was idle for less than that.)
        let begun = batch.first?.unsent != nil
        if !begun, socket.isConnected, let idleCheck = core.configuration.idleCheck, ContinuousClock.now - lastReply > idleCheck,
           socket.peerClosed {
            socket.close()
        }
        if !socket.isConnected {
            do { try reconnect(shouldAbort: shouldAbort) } catch {
                abandon(batch[...], reason: error)
                return
            }
        }
        for request in batch {
            if let unsent = request.unsent {
                socket.appendEncoded(unsent)
            } else {
                socket.append(request.commands)
            }
        }
        do {
            try socket.flush(deadline: .now + core.configuration.commandTimeout, wakeFD: core.wakeRead)
        } catch {
            socket.close()
            abandon(batch[...], reason: error)
            return
        }
        var inFlight = batch
        var next = 0
        while next < inFlight.count {
            let request = inFlight[next]
            var replies: [RedisReply] = []
            replies.reserveCapacity(request.commands.count)
            do {
                let deadline = ContinuousClock.now + (request.timeout ?? core.configuration.commandTimeout)
                while replies.count < request.commands.count {
                    if let reply = try socket.bufferedReply() {
                        replies.append(reply)
                        continue
                    }
                    // Every reply received so far is parsed: before waiting for more, send what
                    // callers queued meanwhile, so Redis works on it while this thread waits.
                    if !core.interruptible { try sendQueued(adding: &inFlight) }
                    replies.append(try socket.readReply(deadline: deadline, wakeFD: core.wakeRead, shouldAbort: shouldAbort))
                }
                request.continuation.resume(returning: replies)
                lastReply = .now
                next += 1
                if next == 1024 {  // under steady load this loop does not end: drop what is done
                    inFlight.removeFirst(next)
                    next = 0
                }
            } catch {
                // The connection is out of step with the server: reset it and fail what is left.
                socket.close()
                abandon(inFlight[next...], reason: error)
                return
            }
        }
    }

    /// Writes the requests queued since the batch was taken and adds them to those in flight.
    private func sendQueued(adding inFlight: inout [ConnectionCore.Request]) throws(RedisError) {
        let more = core.takeQueued()
        if more.isEmpty { return }
        inFlight.append(contentsOf: more)
        for request in more { socket.append(request.commands) }
        try socket.flush(deadline: .now + core.configuration.commandTimeout, wakeFD: core.wakeRead)
    }

    /// Fails requests that cannot be answered: a cancelled one with `CancellationError`, the
    /// others with `reason` (or ``RedisError/connectionLost(_:)`` when the connection was reset
    /// only to abort a cancelled neighbour).
    private func abandon(_ requests: ArraySlice<ConnectionCore.Request>, reason: any Error) {
        let closed = core.isClosed
        for request in requests {
            if closed {
                request.continuation.resume(throwing: RedisError.closed)
            } else if request.isCancelled {
                request.continuation.resume(throwing: CancellationError())
            } else if let error = reason as? RedisError, error == .closed {
                request.continuation.resume(throwing: RedisError.connectionLost("reset to abort a cancelled command"))
            } else {
                request.continuation.resume(throwing: reason)
            }
        }
    }

    /// Connects, retrying with exponential backoff until the reconnect timeout runs out; a
    /// rejected AUTH or SELECT fails at once.
    private func reconnect(shouldAbort: () -> Bool) throws {
        let giveUp = ContinuousClock.now + core.configuration.reconnectTimeout
        var delay = 20
        while true {
            do {
                try socket.connect()
                return
            } catch {
                if socket.handshakeRejected || shouldAbort() || ContinuousClock.now + .milliseconds(delay) > giveUp {
                    throw error
                }
                idle(milliseconds: Int32(delay))
                delay = min(delay * 2, 1000)
            }
        }
    }

    /// Sleeps until woken by a new request or a close, or until the timeout.
    private func idle(milliseconds: Int32) {
        var fds = [pollfd(fd: core.wakeRead, events: Int16(POLLIN), revents: 0)]
        _ = poll(&fds, 1, milliseconds)
        if fds[0].revents != 0 { WakePipe.drain(core.wakeRead) }
    }

    private func fail(_ requests: ArraySlice<ConnectionCore.Request>, with error: any Error) {
        for request in requests { request.continuation.resume(throwing: error) }
    }
}
