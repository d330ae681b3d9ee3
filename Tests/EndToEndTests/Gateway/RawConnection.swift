import BatonCore
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A TCP connection for hostile clients: it reads nothing unless asked (a client that never
/// reads fills the gateway's send buffer), sends bytes exactly as given, and tells an orderly
/// close from a reset. Non-blocking underneath: every wait is a short poll followed by a
/// `Task.sleep`, so nothing blocks Swift's cooperative pool.
final class RawConnection: Sendable {
    /// What a read came back with.
    enum Read: Equatable {
        case bytes([UInt8])
        /// The server closed the connection (end of stream).
        case closed
        /// The server reset the connection.
        case reset
        case timedOut
    }

    private let fd: Int32
    private let open = Atomic<Bool>(true)

    /// Connects to `127.0.0.1:port`; `receiveBuffer` shrinks the socket's receive buffer (set
    /// before connecting, so that the window the server sees is small).
    init(port: Int, receiveBuffer: Int? = nil) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DeploymentError(description: "socket() failed: errno \(errno)") }
        if var size = receiveBuffer.map(Int32.init) {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let code = errno
            Glibc.close(fd)
            throw DeploymentError(description: "connect to 127.0.0.1:\(port) failed: errno \(code)")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        self.fd = fd
    }

    deinit { close() }

    /// Closes the socket (idempotent).
    func close() {
        if open.exchange(false, ordering: .acquiringAndReleasing) { Glibc.close(fd) }
    }

    /// Sends every byte, waiting while the socket is full; throws when the server closed or reset.
    func send(_ bytes: [UInt8], timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written > 0 {
                offset += written
                continue
            }
            let code = errno
            guard written < 0, code == EAGAIN || code == EWOULDBLOCK || code == EINTR else {
                throw DeploymentError(description: "send failed: errno \(code)")
            }
            if ContinuousClock.now >= deadline { throw DeploymentError(description: "send timed out") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    func send(_ text: String, timeout: Duration = .seconds(10)) async throws {
        try await send(Array(text.utf8), timeout: timeout)
    }

    /// Up to `max` bytes as soon as some arrive.
    func read(max: Int = 65_536, timeout: Duration) async -> Read {
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: max)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 { return .bytes(Array(buffer[..<count])) }
            if count == 0 { return .closed }
            let code = errno
            if code == ECONNRESET { return .reset }
            if code != EAGAIN && code != EWOULDBLOCK && code != EINTR { return .reset }
            if ContinuousClock.now >= deadline { return .timedOut }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Everything until the server closes (or resets) the connection; `nil` when it is still
    /// open at the deadline. `pause` slows the reader down between reads.
    func readToEnd(timeout: Duration, chunk: Int = 65_536, pause: Duration? = nil) async -> [UInt8]? {
        let deadline = ContinuousClock.now + timeout
        var all: [UInt8] = []
        while true {
            switch await read(max: chunk, timeout: deadline - .now) {
            case .bytes(let bytes):
                all += bytes
                if let pause { try? await Task.sleep(for: pause) }
            case .closed, .reset: return all
            case .timedOut: return nil
            }
        }
    }

    /// Bytes until `marker` has arrived (included), the server closes, or the deadline passes.
    /// `pause` slows the reader down between reads of at most `chunk` bytes.
    func read(until marker: [UInt8], timeout: Duration, chunk: Int = 65_536, pause: Duration? = nil)
        async -> (bytes: [UInt8], found: Bool)
    {
        let deadline = ContinuousClock.now + timeout
        var all: [UInt8] = []
        while true {
            switch await read(max: chunk, timeout: deadline - .now) {
            case .bytes(let bytes):
                let from = max(0, all.count - marker.count)
                all += bytes
                if Self.find(marker, in: all, from: from) != nil { return (all, true) }
                if let pause { try? await Task.sleep(for: pause) }
            case .closed, .reset, .timedOut:
                return (all, false)
            }
        }
    }

    /// The index of the first `marker` in `bytes` at or after `from`.
    static func find(_ marker: [UInt8], in bytes: [UInt8], from: Int = 0) -> Int? {
        guard !marker.isEmpty, bytes.count >= marker.count, from <= bytes.count - marker.count else { return nil }
        return bytes.withUnsafeBufferPointer { buffer in
            var start = from
            while start <= buffer.count - marker.count {
                var matched = true
                for offset in 0..<marker.count where buffer[start + offset] != marker[offset] {
                    matched = false
                    break
                }
                if matched { return start }
                start += 1
            }
            return nil
        }
    }
}

/// One HTTP/1.1 answer parsed from raw bytes (Content-Length bodies only).
struct RawAnswer: CustomStringConvertible {
    let status: Int
    /// Header names in lower case.
    let headers: [String: String]
    let body: String

    /// Parses the first answer in `bytes`; `nil` when the head or the body is incomplete.
    init?(_ bytes: [UInt8]) {
        guard let end = RawConnection.find(Array("\r\n\r\n".utf8), in: bytes) else { return nil }
        let head = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        guard let statusLine = head.first, let code = Int(statusLine.split(separator: " ").dropFirst().first ?? "") else {
            return nil
        }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let rest = Array(bytes[(end + 4)...])
        let length = headers["content-length"].flatMap { Int($0) } ?? 0
        guard rest.count >= length else { return nil }
        status = code
        self.headers = headers
        body = String(decoding: rest[..<length], as: UTF8.self)
    }

    /// The body as JSON (`null` when it is not JSON).
    var json: JSONValue { (try? JSONValue(parsing: body)) ?? .null }

    /// `error.code` of a JSON error body.
    var errorCode: String? { json["error"]?["code"]?.stringValue }

    var description: String { "\(status) \(headers) \(body.prefix(300))" }
}
