import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A blocking HTTP/1.1 keep-alive connection to 127.0.0.1 for the gateway workload: one request at
/// a time, answers with `Content-Length`. Used from a thread of its own (never from Swift tasks).
final class BenchHTTPConnection {
    private let fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int) throws {
        fd = try benchConnect(port: port)
    }

    deinit { close(fd) }

    /// Sends one request and reads its answer.
    func request(_ method: String, _ path: String, body: String = "", headers: [String: String] = [:]) throws -> (status: Int, body: String) {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(body.utf8.count)\r\n\r\n"
        try benchWrite(fd, Array((head + body).utf8))
        let headEnd = try readUntilHeadEnd()
        let text = String(decoding: buffer[..<headEnd], as: UTF8.self)
        buffer.removeFirst(headEnd + 4)
        let lines = text.split(separator: "\r\n")
        let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        var length = 0
        for line in lines.dropFirst() where line.lowercased().hasPrefix("content-length:") {
            length = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
        }
        while buffer.count < length { try fill() }
        let answer = String(decoding: buffer[..<length], as: UTF8.self)
        buffer.removeFirst(length)
        return (status, answer)
    }

    private func readUntilHeadEnd() throws -> Int {
        while true {
            if buffer.count >= 4 {
                for index in 0...(buffer.count - 4)
                where buffer[index] == 13 && buffer[index + 1] == 10 && buffer[index + 2] == 13 && buffer[index + 3] == 10 {
                    return index
                }
            }
            try fill()
        }
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        var count = read(fd, &chunk, chunk.count)
        while count < 0 && errno == EINTR { count = read(fd, &chunk, chunk.count) }
        guard count > 0 else { throw BenchError("the gateway closed the connection") }
        buffer += chunk[0..<count]
    }
}

/// Many Server-Sent Events connections read by one thread with `poll`: each connection's chunked
/// body is decoded and every `data:` line's `timestamp` (the transition's epoch ms) is compared
/// with the arrival time. Events stamped before ``measureFrom`` (the replay of old events) are
/// counted but not measured.
final class SSEFleet: Sendable {
    /// What the fleet saw.
    struct Outcome: Sendable {
        var latenciesMillis: [Double]
        var events: Int
        var ended: Int
        var connections: Int
    }

    private struct Connection {
        let fd: Int32
        var head: [UInt8] = []
        var headDone = false
        var chunkRemaining = -1  // -1: expecting a size line
        var sizeLine: [UInt8] = []
        var skipCRLF = 0
        var line: [UInt8] = []
        var ended = false
    }

    private let measureFrom = Atomic<Int64>(Int64.max)
    private let connected = Atomic<Int>(0)

    /// Epoch milliseconds from which events count for the latency figures.
    func startMeasuring(at millis: Int64) { measureFrom.store(millis, ordering: .releasing) }

    /// Connections whose response head arrived.
    var connectedCount: Int { connected.load(ordering: .acquiring) }

    /// Opens every connection, then reads them all on a thread of its own until each ended or the
    /// deadline passed; returns what was seen.
    func run(port: Int, paths: [String], key: String, deadline: Duration) async throws -> Outcome {
        var fds: [Int32] = []
        for path in paths {
            let fd = try benchConnect(port: port)
            let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nAuthorization: Bearer \(key)\r\n\r\n"
            try benchWrite(fd, Array(request.utf8))
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            fds.append(fd)
        }
        let fleet = self
        let limit = ContinuousClock.now + deadline
        let sendableFDs = fds
        return await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(returning: fleet.readAll(sendableFDs, until: limit))
            }
            thread.stackSize = 1 << 22
            thread.start()
        }
    }

    private func readAll(_ fds: [Int32], until deadline: ContinuousClock.Instant) -> Outcome {
        var connections = fds.map { Connection(fd: $0) }
        var outcome = Outcome(latenciesMillis: [], events: 0, ended: 0, connections: fds.count)
        outcome.latenciesMillis.reserveCapacity(200_000)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while outcome.ended < connections.count && ContinuousClock.now < deadline {
            var polls = connections.map { pollfd(fd: $0.fd, events: $0.ended ? 0 : Int16(POLLIN), revents: 0) }
            let ready = poll(&polls, nfds_t(polls.count), 100)
            if ready <= 0 { continue }
            for index in polls.indices where polls[index].revents != 0 && !connections[index].ended {
                while true {
                    let count = read(connections[index].fd, &buffer, buffer.count)
                    if count > 0 {
                        let now = Date().timeIntervalSince1970 * 1000
                        consume(buffer[0..<count], into: &connections[index], now: now, outcome: &outcome)
                        if connections[index].ended { break }
                        continue
                    }
                    if count < 0 && errno == EINTR { continue }
                    if count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) {
                        connections[index].ended = true
                        outcome.ended += 1
                    }
                    break
                }
            }
        }
        for connection in connections { close(connection.fd) }
        return outcome
    }

    private func consume(_ bytes: ArraySlice<UInt8>, into c: inout Connection, now: Double, outcome: inout Outcome) {
        var index = bytes.startIndex
        if !c.headDone {
            while index < bytes.endIndex && !c.headDone {
                c.head.append(bytes[index])
                index += 1
                if c.head.count >= 4 && c.head.suffix(4) == [13, 10, 13, 10] {
                    c.headDone = true
                    connected.wrappingAdd(1, ordering: .releasing)
                }
            }
        }
        while index < bytes.endIndex {
            if c.skipCRLF > 0 {
                c.skipCRLF -= 1
                index += 1
                continue
            }
            if c.chunkRemaining < 0 {
                let byte = bytes[index]
                index += 1
                if byte == 10 {
                    let size = Int(String(decoding: c.sizeLine.filter { $0 != 13 }, as: UTF8.self), radix: 16) ?? 0
                    c.sizeLine.removeAll(keepingCapacity: true)
                    if size == 0 {
                        c.ended = true
                        outcome.ended += 1
                        return
                    }
                    c.chunkRemaining = size
                } else {
                    c.sizeLine.append(byte)
                }
                continue
            }
            let take = min(c.chunkRemaining, bytes.endIndex - index)
            for byte in bytes[index..<(index + take)] {
                if byte == 10 {
                    line(c.line, now: now, outcome: &outcome)
                    c.line.removeAll(keepingCapacity: true)
                } else {
                    c.line.append(byte)
                }
            }
            index += take
            c.chunkRemaining -= take
            if c.chunkRemaining == 0 {
                c.chunkRemaining = -1
                c.skipCRLF = 2
            }
        }
    }

    /// One line of the event stream: a `data:` line's timestamp gives a latency sample.
    private func line(_ bytes: [UInt8], now: Double, outcome: inout Outcome) {
        guard bytes.starts(with: Array("data: ".utf8)) else { return }
        outcome.events += 1
        let text = String(decoding: bytes, as: UTF8.self)
        guard let range = text.range(of: "\"timestamp\":") else { return }
        let digits = text[range.upperBound...].prefix { $0.isNumber }
        guard let stamp = Int64(digits), stamp >= measureFrom.load(ordering: .acquiring) else { return }
        outcome.latenciesMillis.append(max(0, now - Double(stamp)))
    }
}

/// A blocking TCP connection to 127.0.0.1:`port`.
func benchConnect(port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BenchError("socket() failed: errno \(errno)") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    var one: Int32 = 1
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard result == 0 else {
        close(fd)
        throw BenchError("connect to 127.0.0.1:\(port) failed: errno \(errno)")
    }
    return fd
}

/// Writes all of `bytes` (blocking).
func benchWrite(_ fd: Int32, _ bytes: [UInt8]) throws {
    var offset = 0
    while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if written < 0 && errno == EINTR { continue }
        guard written > 0 else { throw BenchError("write failed: errno \(errno)") }
        offset += written
    }
}
