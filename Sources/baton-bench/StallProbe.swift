import Foundation
import RedisClient
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Measures how long Redis keeps other clients waiting while a workload runs: a probe client of
/// its own sends one `PING` every millisecond and records the longest round trip. A script that
/// holds Redis for 300 ms shows as a stall of about 300 ms (Redis runs one command at a time).
///
/// The probe is a plain blocking socket on a thread of its own, outside Swift's cooperative
/// pool: a workload that keeps the bench's pool busy (building a copy of 100,000 tasks) must not
/// show as a Redis stall. What remains is this host's scheduling (2 cores shared with Redis and
/// the services); `longest_command_ms` (Redis' SLOWLOG) is Redis' own figure.
final class StallProbe: Sendable {
    private struct State {
        var stopping = false
        var finished = false
        var longest: Duration = .zero
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    /// Starts probing the Redis at `url` (on a cluster: the node it names; TCP only).
    init(url: String) throws {
        guard case .tcp(let host, let port) = try RedisConfiguration(url: url).endpoint else {
            throw BenchError("the stall probe needs a TCP Redis URL, not \(url)")
        }
        let socket = try Self.connect(host: host, port: port)
        let thread = Thread { [self] in
            probe(socket)
            close(socket)
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                state.finished = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
        thread.name = "stall-probe"
        thread.start()
    }

    /// Stops probing; returns the longest wait in milliseconds.
    func stop() async -> Double {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let finished = state.withLock { state -> Bool in
                state.stopping = true
                if !state.finished { state.waiter = continuation }
                return state.finished
            }
            if finished { continuation.resume() }
        }
        return state.withLock { $0.longest }.milliseconds
    }

    private func probe(_ socket: Int32) {
        let ping = Array("PING\r\n".utf8)
        var buffer = [UInt8](repeating: 0, count: 64)
        let clock = ContinuousClock()
        while !state.withLock({ $0.stopping }) {
            let sent = clock.now
            guard ping.withUnsafeBytes({ send(socket, $0.baseAddress, $0.count, 0) }) == ping.count else { return }
            var received = 0
            while received < 7 {  // "+PONG\r\n"
                let count = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress! + received, $0.count - received, 0) }
                if count <= 0 { return }
                received += count
            }
            let waited = clock.now - sent
            state.withLock { $0.longest = max($0.longest, waited) }
            usleep(1000)
        }
    }

    private static func connect(host: String, port: Int) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &info) == 0, let address = info else {
            throw BenchError("the stall probe cannot resolve \(host)")
        }
        defer { freeaddrinfo(info) }
        let socket = Glibc.socket(address.pointee.ai_family, address.pointee.ai_socktype, address.pointee.ai_protocol)
        guard socket >= 0, Glibc.connect(socket, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0 else {
            if socket >= 0 { close(socket) }
            throw BenchError("the stall probe cannot connect to \(host):\(port)")
        }
        var one: Int32 = 1
        setsockopt(socket, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return socket
    }
}
