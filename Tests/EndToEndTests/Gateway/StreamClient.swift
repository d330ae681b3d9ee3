import BatonCore
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A TCP connection whose bytes are read by a thread of its own (no blocking call on Swift's
/// cooperative pool) and handed over as an async stream of chunks; an empty chunk arrives every
/// 100 ms so that readers can keep their deadlines. ``close()`` drops the connection at once,
/// which is how tests play a client that went away.
final class TCPStream: Sendable {
    let chunks: AsyncStream<[UInt8]>
    private let fd: Int32
    private let state = SocketState()

    /// Who may still touch the descriptor. Once the reader thread closed it, its number may
    /// belong to another socket of this process, so ``close()`` must never shut it down then.
    private final class SocketState: Sendable {
        private struct Flags {
            var closing = false
            var released = false
        }

        private let flags = Mutex(Flags())
        var isClosing: Bool { flags.withLock { $0.closing } }

        /// Runs `shutdown` unless the descriptor is already released; marks the stream closing.
        func close(_ shutdown: () -> Void) {
            flags.withLock { flags in
                if !flags.closing && !flags.released { shutdown() }
                flags.closing = true
            }
        }

        /// Runs `body` while the descriptor is still this stream's; false when it is not.
        func use(_ body: () throws -> Void) rethrows -> Bool {
            try flags.withLock { flags in
                if flags.released || flags.closing { return false }
                try body()
                return true
            }
        }

        /// Closes the descriptor (the reader thread, once, when it stops).
        func release(_ close: () -> Void) {
            flags.withLock { flags in
                close()
                flags.released = true
            }
        }
    }

    init(port: Int) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DeploymentError(description: "socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(fd)
            throw DeploymentError(description: "connect to 127.0.0.1:\(port) failed: errno \(errno)")
        }
        self.fd = fd
        let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self)
        chunks = stream
        let state = self.state
        let thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while !state.isClosing {
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let ready = poll(&poller, 1, 100)
                if ready == 0 {
                    continuation.yield([])
                    continue
                }
                if ready < 0 && errno == EINTR { continue }
                let count = read(fd, &buffer, buffer.count)
                if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }  // e.g. SIGCHLD of a test's child
                if count <= 0 { break }
                continuation.yield(Array(buffer[0..<count]))
            }
            continuation.finish()
            state.release { _ = Glibc.close(fd) }
        }
        thread.start()
    }

    /// Writes everything; throws when the connection is gone.
    func send(_ bytes: [UInt8]) throws {
        let fd = self.fd
        let owned = try state.use {
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { throw DeploymentError(description: "write failed: errno \(errno)") }
                offset += written
            }
        }
        if !owned { throw DeploymentError(description: "the connection is closed") }
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Drops the connection (the reader thread closes the descriptor).
    func close() {
        let fd = self.fd
        state.close { _ = shutdown(fd, Int32(SHUT_RDWR)) }
    }

    deinit { close() }
}

/// Buffered reading from a ``TCPStream`` with deadlines; used by one task at a time.
final class ByteReader {
    private var iterator: AsyncStream<[UInt8]>.Iterator
    private var buffer: [UInt8] = []
    private(set) var ended = false

    init(_ stream: TCPStream) {
        iterator = stream.chunks.makeAsyncIterator()
    }

    /// Reads more bytes; false at the end of the stream. Throws past `deadline`.
    private func fill(deadline: ContinuousClock.Instant) async throws -> Bool {
        while true {
            guard let chunk = await iterator.next() else {
                ended = true
                return false
            }
            if !chunk.isEmpty {
                buffer += chunk
                return true
            }
            if ContinuousClock.now >= deadline { throw StreamTimeout() }
        }
    }

    /// One line without its CRLF / LF; `nil` at the end of the stream.
    func line(deadline: ContinuousClock.Instant) async throws -> String? {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                var bytes = Array(buffer[..<newline])
                buffer.removeFirst(newline + 1)
                if bytes.last == 0x0D { bytes.removeLast() }
                return String(decoding: bytes, as: UTF8.self)
            }
            guard try await fill(deadline: deadline) else { return nil }
        }
    }

    /// Exactly `count` bytes; `nil` at the end of the stream.
    func bytes(_ count: Int, deadline: ContinuousClock.Instant) async throws -> [UInt8]? {
        while buffer.count < count {
            guard try await fill(deadline: deadline) else { return nil }
        }
        let out = Array(buffer[..<count])
        buffer.removeFirst(count)
        return out
    }
}

/// A read did not complete in time.
struct StreamTimeout: Error, CustomStringConvertible {
    var description: String { "timed out waiting for the stream" }
}

/// One parsed Server-Sent Event.
struct SSEFrame: Sendable {
    var id: String?
    var event: String
    var data: String

    var json: JSONValue { (try? JSONValue(parsing: data)) ?? .null }
    var type: String? { json["type"]?.stringValue }
}

/// A Server-Sent Events client over a raw connection: sends the GET, checks the head, decodes the
/// chunked body and parses frames (comments are counted, not returned). Used by one task at a time.
final class SSEClient: @unchecked Sendable {
    let stream: TCPStream
    private let reader: ByteReader
    private var chunkRemaining = 0
    private var body: [UInt8] = []
    private var pending = ""
    /// Status and headers of the answer.
    private(set) var status = 0
    private(set) var headers: [String: String] = [:]
    /// Comment lines seen (keep-alives and the greeting).
    private(set) var comments = 0
    /// True once the server ended the body.
    private(set) var finished = false

    /// Opens `GET path` with these headers and reads the response head.
    init(port: Int, path: String, key: String?, headers extra: [String: String] = [:], timeout: Duration = .seconds(10)) async throws {
        stream = try TCPStream(port: port)
        reader = ByteReader(stream)
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAccept: text/event-stream\r\n"
        if let key { request += "Authorization: Bearer \(key)\r\n" }
        for (name, value) in extra { request += "\(name): \(value)\r\n" }
        try stream.send(request + "\r\n")
        let deadline = ContinuousClock.now + timeout
        guard let statusLine = try await reader.line(deadline: deadline) else { throw DeploymentError(description: "no response") }
        status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0
        while let line = try await reader.line(deadline: deadline), !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
    }

    /// The whole body of a non-streaming answer (an error), as text.
    func remainingBody(timeout: Duration = .seconds(10)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        if let length = headers["content-length"].flatMap({ Int($0) }) {
            return String(decoding: try await reader.bytes(length, deadline: deadline) ?? [], as: UTF8.self)
        }
        var text = ""
        while let bytes = try await nextBodyBytes(deadline: deadline) { text += String(decoding: bytes, as: UTF8.self) }
        return text
    }

    /// The next event; `nil` when the server ended the stream. Throws ``StreamTimeout``.
    func next(timeout: Duration = .seconds(15)) async throws -> SSEFrame? {
        let deadline = ContinuousClock.now + timeout
        var frame = SSEFrame(id: nil, event: "message", data: "")
        var hasData = false
        while true {
            guard let line = try await bodyLine(deadline: deadline) else { return nil }
            if line.isEmpty {
                if hasData { return frame }
                frame = SSEFrame(id: nil, event: "message", data: "")
                continue
            }
            if line.hasPrefix(":") {
                comments += 1
                continue
            }
            let (field, value) = Self.split(line)
            switch field {
            case "id": frame.id = value
            case "event": frame.event = value
            case "data":
                frame.data += hasData ? "\n" + value : value
                hasData = true
            default: break
            }
        }
    }

    /// Every event until the server ends the stream.
    func all(timeout: Duration = .seconds(30)) async throws -> [SSEFrame] {
        var frames: [SSEFrame] = []
        while let frame = try await next(timeout: timeout) { frames.append(frame) }
        return frames
    }

    /// Waits until a comment line (keep-alive) arrives.
    func waitForComment(after count: Int, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while comments <= count {
            guard let line = try await bodyLine(deadline: deadline) else { throw DeploymentError(description: "stream ended") }
            if line.hasPrefix(":") { comments += 1 } else if !line.isEmpty { pending = line + "\n" + pending }
        }
    }

    func close() { stream.close() }

    private static func split(_ line: String) -> (String, String) {
        guard let colon = line.firstIndex(of: ":") else { return (line, "") }
        var value = line[line.index(after: colon)...]
        if value.first == " " { value = value.dropFirst() }
        return (String(line[..<colon]), String(value))
    }

    private func bodyLine(deadline: ContinuousClock.Instant) async throws -> String? {
        while true {
            if let newline = pending.firstIndex(of: "\n") {
                let line = String(pending[..<newline])
                pending.removeSubrange(...newline)
                return line.hasSuffix("\r") ? String(line.dropLast()) : line
            }
            guard let bytes = try await nextBodyBytes(deadline: deadline) else {
                if pending.isEmpty { return nil }
                defer { pending = "" }
                return pending
            }
            pending += String(decoding: bytes, as: UTF8.self)
        }
    }

    /// Decoded body bytes (chunked transfer coding); `nil` at the end.
    private func nextBodyBytes(deadline: ContinuousClock.Instant) async throws -> [UInt8]? {
        if finished { return nil }
        if headers["transfer-encoding"]?.lowercased() != "chunked" {
            finished = true
            return nil
        }
        if chunkRemaining == 0 {
            guard let sizeLine = try await reader.line(deadline: deadline) else {
                finished = true
                return nil
            }
            let size = Int(sizeLine.split(separator: ";").first ?? "", radix: 16) ?? 0
            if size == 0 {
                finished = true
                return nil
            }
            chunkRemaining = size
        }
        guard let bytes = try await reader.bytes(chunkRemaining, deadline: deadline) else {
            finished = true
            return nil
        }
        chunkRemaining = 0
        _ = try await reader.line(deadline: deadline)  // CRLF after the chunk
        return bytes
    }
}

/// A minimal WebSocket client (RFC 6455) over a raw connection: the upgrade, masked client
/// frames, unmasked server frames; text messages are returned, pings answered, a close ends it.
final class WebSocketClient: @unchecked Sendable {
    let stream: TCPStream
    private let reader: ByteReader
    /// Status of the upgrade answer (101 when upgraded) and its head.
    private(set) var status = 0
    private(set) var headers: [String: String] = [:]
    /// The error body when the upgrade was refused.
    private(set) var refusal = ""
    /// The code of the server's close frame, once received.
    private(set) var closeCode: Int?

    init(port: Int, path: String, key: String?, timeout: Duration = .seconds(10)) async throws {
        stream = try TCPStream(port: port)
        reader = ByteReader(stream)
        let nonce = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        request += "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: \(nonce)\r\n"
        if let key { request += "Authorization: Bearer \(key)\r\n" }
        try stream.send(request + "\r\n")
        let deadline = ContinuousClock.now + timeout
        guard let statusLine = try await reader.line(deadline: deadline) else { throw DeploymentError(description: "no response") }
        status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0
        while let line = try await reader.line(deadline: deadline), !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        if status != 101, let length = headers["content-length"].flatMap({ Int($0) }) {
            refusal = String(decoding: try await reader.bytes(length, deadline: deadline) ?? [], as: UTF8.self)
        }
    }

    /// The next text message; `nil` after a close frame or the end of the connection.
    func next(timeout: Duration = .seconds(15)) async throws -> String? {
        let deadline = ContinuousClock.now + timeout
        var message: [UInt8] = []
        while true {
            guard let head = try await reader.bytes(2, deadline: deadline) else { return nil }
            let fin = head[0] & 0x80 != 0
            let opcode = head[0] & 0x0F
            var length = Int(head[1] & 0x7F)
            if length == 126 {
                guard let extended = try await reader.bytes(2, deadline: deadline) else { return nil }
                length = Int(extended[0]) << 8 | Int(extended[1])
            } else if length == 127 {
                guard let extended = try await reader.bytes(8, deadline: deadline) else { return nil }
                length = extended.reduce(0) { $0 << 8 | Int($1) }
            }
            let payload = length == 0 ? [] : (try await reader.bytes(length, deadline: deadline) ?? [])
            switch opcode {
            case 0x8:  // close: answer it and stop
                if payload.count >= 2 { closeCode = Int(payload[0]) << 8 | Int(payload[1]) }
                try? sendFrame(opcode: 0x8, payload: Array(payload.prefix(2)))
                return nil
            case 0x9:  // ping
                try sendFrame(opcode: 0xA, payload: payload)
            case 0x1, 0x0:
                message += payload
                if fin { return String(decoding: message, as: UTF8.self) }
            default:
                break
            }
        }
    }

    /// Every message until the server closes.
    func all(timeout: Duration = .seconds(30)) async throws -> [String] {
        var messages: [String] = []
        while let message = try await next(timeout: timeout) { messages.append(message) }
        return messages
    }

    /// Sends a close frame and drops the connection.
    func close() {
        try? sendFrame(opcode: 0x8, payload: [0x03, 0xE8])
        stream.close()
    }

    private func sendFrame(opcode: UInt8, payload: [UInt8]) throws {
        var frame: [UInt8] = [0x80 | opcode]
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else {
            frame.append(0x80 | 126)
            frame += [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        }
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        try stream.send(frame)
    }
}
