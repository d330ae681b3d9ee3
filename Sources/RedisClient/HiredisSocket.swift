import CHiredis
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A hiredis context confined to one thread: connect, write commands, read replies.
///
/// Reads wait in `poll(2)` on the socket and on a wake-up pipe, so the owner can interrupt a
/// blocking command (`BZPOPMIN`, `XREADGROUP BLOCK`, a subscription) by writing to the pipe.
/// Timeouts are enforced here too, never through hiredis' socket timeouts (which kill the context).
final class HiredisSocket {
    private var context: UnsafeMutablePointer<redisContext>?
    private var outgoing: [UInt8] = []
    /// Whether the last ``connect()`` failed because Redis refused AUTH, SELECT or SETNAME
    /// (a wrong password or database), which retrying will not cure.
    private(set) var handshakeRejected = false
    let configuration: RedisConfiguration

    init(configuration: RedisConfiguration) {
        self.configuration = configuration
    }

    deinit { close() }

    var isConnected: Bool { context != nil }

    /// Blocks SIGPIPE on the calling thread, which must be the one that owns the socket.
    ///
    /// hiredis writes with `write(2)`: on a socket the server has closed, that raises SIGPIPE,
    /// whose default action kills the whole process. Blocked, the write fails with EPIPE
    /// instead and the command with ``RedisError/connectionLost(_:)``. Only this thread's mask
    /// changes; the process's signal handling is left alone.
    static func ignoreBrokenPipeOnThisThread() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Connects, then authenticates, selects the database and names the client.
    func connect() throws(RedisError) {
        close()
        handshakeRejected = false
        let timeout = timeval(configuration.connectTimeout)
        let made: UnsafeMutablePointer<redisContext>?
        switch configuration.endpoint {
        case .tcp(let host, let port):
            made = redisConnectWithTimeout(host, Int32(port), timeout)
        case .unix(let path):
            made = redisConnectUnixWithTimeout(path, timeout)
        }
        guard let made else { throw .connectFailed("out of memory") }
        if made.pointee.err != 0 {
            let reason = Self.errorString(made)
            redisFree(made)
            throw .connectFailed(reason)
        }
        context = made
        do {
            if let password = configuration.password {
                var auth = RedisCommand("AUTH")
                if let user = configuration.username { auth.append(user) }
                auth.append(password)
                try handshake(auth)
            }
            if configuration.database != 0 {
                try handshake(RedisCommand("SELECT", String(configuration.database)))
            }
            if let name = configuration.clientName {
                try handshake(RedisCommand("CLIENT", "SETNAME", name))
            }
        } catch {
            close()
            throw error
        }
    }

    private func handshake(_ command: RedisCommand) throws(RedisError) {
        append(command)
        try flush(deadline: .now + configuration.connectTimeout, wakeFD: -1)
        let reply = try readReply(deadline: .now + configuration.connectTimeout, wakeFD: -1, shouldAbort: { false })
        if case .error(let message) = reply {
            handshakeRejected = !message.hasPrefix("LOADING") && !message.hasPrefix("BUSY")
            throw .connectFailed("\(command.name) rejected: \(message)")
        }
    }

    func close() {
        if let context { redisFree(context) }
        context = nil
        outgoing.removeAll(keepingCapacity: true)
    }

    /// Queues a command in the output buffer; nothing is sent until ``flush(deadline:wakeFD:)``.
    func append(_ command: RedisCommand) {
        command.encoded(into: &outgoing)
    }

    /// Queues several commands, encoded into the output buffer in one go.
    func append(_ commands: [RedisCommand]) {
        var buffer: [UInt8] = []
        swap(&buffer, &outgoing)
        commands.withUnsafeBufferPointer { commands in  // borrowed, not retained one by one
            for index in commands.indices { commands[index].encoded(into: &buffer) }
        }
        swap(&buffer, &outgoing)
    }

    /// Queues bytes that are already encoded commands (the rest of what a caller began to write
    /// itself, ``ConnectionCore/enqueue(_:)``).
    func appendEncoded(_ bytes: ArraySlice<UInt8>) {
        outgoing.append(contentsOf: bytes)
    }

    /// Writes everything appended so far.
    func flush(deadline: ContinuousClock.Instant, wakeFD: Int32) throws(RedisError) {
        guard let context else { throw .connectionLost("not connected") }
        if !outgoing.isEmpty {
            let status = outgoing.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { chars in
                    redisAppendFormattedCommand(context, chars.baseAddress, chars.count)
                }
            }
            outgoing.removeAll(keepingCapacity: outgoing.capacity < 1 << 20)
            if status != REDIS_OK { throw lost() }
        }
        var done: Int32 = 0
        while done == 0 {
            if redisBufferWrite(context, &done) != REDIS_OK { throw lost() }
            if done == 0 {
                _ = try wait(for: Int16(POLLOUT), deadline: deadline, wakeFD: wakeFD)
            }
        }
    }

    /// Reads one reply, waiting until `deadline` (nil: forever); throws ``RedisError/closed`` when
    /// `shouldAbort` says so before a wait or after the wake pipe fired.
    func readReply(
        deadline: ContinuousClock.Instant?,
        wakeFD: Int32,
        shouldAbort: () -> Bool
    ) throws(RedisError) -> RedisReply {
        guard let context else { throw .connectionLost("not connected") }
        while true {
            if let reply = try bufferedReply() { return reply }
            // Checked before waiting too: a wake-up may have been consumed earlier (by a wait
            // in `flush`), and the pipe would not fire again for it.
            if shouldAbort() { throw .closed }
            let ready = try wait(for: Int16(POLLIN), deadline: deadline, wakeFD: wakeFD)
            if ready.wake && shouldAbort() { throw .closed }
            if ready.socket, redisBufferRead(context) != REDIS_OK { throw lost() }
        }
    }

    /// A reply already in hiredis' input buffer, if a whole one is there.
    func bufferedReply() throws(RedisError) -> RedisReply? {
        guard let context else { throw .connectionLost("not connected") }
        var raw: UnsafeMutableRawPointer?
        if redisReaderGetReply(context.pointee.reader, &raw) != REDIS_OK {
            throw .protocolError(Self.errorString(context))
        }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        return Self.convert(raw.assumingMemoryBound(to: redisReply.self))
    }

    /// Whether input is waiting on the socket or the wake pipe.
    var fileDescriptor: Int32 { context?.pointee.fd ?? -1 }

    /// True when the server closed or reset an idle connection (it was restarted, or failed
    /// over): nothing is expected from it, yet the socket is readable or hung up. Sending on it
    /// would lose the command to a dead peer, so the caller reconnects first.
    var peerClosed: Bool {
        let fd = fileDescriptor
        guard fd >= 0 else { return true }
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        // Readable or hung up while nothing is expected: end of stream, an error, or stray
        // bytes (out of step): in every case the connection cannot be used as it is.
        return poll(&fds, 1, 0) > 0
    }

    private struct Readiness { var socket: Bool; var wake: Bool }

    private func wait(for events: Int16, deadline: ContinuousClock.Instant?, wakeFD: Int32) throws(RedisError) -> Readiness {
        let fd = fileDescriptor
        var fds = [pollfd(fd: fd, events: events, revents: 0)]
        if wakeFD >= 0 { fds.append(pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)) }
        while true {
            var timeoutMs: Int32 = -1
            if let deadline {
                let remaining = ContinuousClock.now.duration(to: deadline)
                if remaining <= .zero { throw .timeout }
                timeoutMs = Int32(clamping: remaining.milliseconds + 1)
            }
            let count = poll(&fds, nfds_t(fds.count), timeoutMs)
            if count < 0 {
                if errno == EINTR { continue }
                throw .connectionLost("poll failed: errno \(errno)")
            }
            if count == 0 { continue }  // loop re-checks the deadline
            let socket = fds[0].revents != 0
            let wake = fds.count > 1 && fds[1].revents != 0
            if wake { WakePipe.drain(wakeFD) }
            return Readiness(socket: socket, wake: wake)
        }
    }

    private func lost() -> RedisError {
        guard let context else { return .connectionLost("not connected") }
        let reason = Self.errorString(context)
        close()
        return .connectionLost(reason.isEmpty ? "connection closed by server" : reason)
    }

    private static func errorString(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let value = reply.pointee
        switch value.type {
        case REDIS_REPLY_STRING:
            return .bulk(bytes(value.str, value.len))
        case REDIS_REPLY_STATUS:
            return .status(text(value.str, value.len))
        case REDIS_REPLY_ERROR:
            return .error(text(value.str, value.len))
        case REDIS_REPLY_INTEGER:
            return .integer(Int(value.integer))
        case REDIS_REPLY_ARRAY:
            var elements: [RedisReply] = []
            elements.reserveCapacity(Int(value.elements))
            for index in 0..<Int(value.elements) {
                if let element = value.element[index] { elements.append(convert(element)) }
            }
            return .array(elements)
        default:
            return .null
        }
    }

    private static func text(_ pointer: UnsafeMutablePointer<CChar>?, _ length: Int) -> String {
        guard let pointer, length > 0 else { return "" }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    private static func bytes(_ pointer: UnsafeMutablePointer<CChar>?, _ length: Int) -> [UInt8] {
        guard let pointer, length > 0 else { return [] }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            Array(UnsafeBufferPointer(start: $0, count: length))
        }
    }
}

extension Duration {
    var milliseconds: Int64 {
        let parts = components
        return parts.seconds * 1000 + parts.attoseconds / 1_000_000_000_000_000
    }
}

private func timeval(_ duration: Duration) -> timeval {
    let parts = duration.components
    return timeval(tv_sec: Int(parts.seconds), tv_usec: Int(parts.attoseconds / 1_000_000_000_000))
}

/// A self-pipe that wakes a connection thread out of `poll(2)`.
enum WakePipe {
    static func make() -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { fatalError("pipe() failed: errno \(errno)") }
        for fd in fds {
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        }
        return (fds[0], fds[1])
    }

    static func signal(_ fd: Int32) {
        var byte: UInt8 = 1
        _ = write(fd, &byte, 1)
    }

    static func drain(_ fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(fd, &buffer, buffer.count) > 0 {}
    }

    static func close(_ pair: (read: Int32, write: Int32)) {
        _ = Glibc.close(pair.read)
        _ = Glibc.close(pair.write)
    }
}
