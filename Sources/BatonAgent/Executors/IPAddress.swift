import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address as a number, for ``RestPolicy``'s range checks.
enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    case v6(UInt128)

    /// Parses the strict text forms only (`inet_pton`): `10.0.0.1`, `::1`, `::ffff:127.0.0.1`;
    /// brackets around an IPv6 address are accepted. Shorthand IPv4 (`127.1`) is not.
    init?(_ text: some StringProtocol) {
        var text = String(text)
        if text.hasPrefix("["), text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self = .v4(UInt32(bigEndian: v4.s_addr))
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            self = .v6(Self.number(of: v6))
            return
        }
        return nil
    }

    /// The address of a `sockaddr` of family `AF_INET` or `AF_INET6`.
    init?(_ address: UnsafePointer<sockaddr>) {
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            let v4 = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
            self = .v4(UInt32(bigEndian: v4.s_addr))
        case AF_INET6:
            let v6 = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
            self = .v6(Self.number(of: v6))
        default:
            return nil
        }
    }

    /// The IPv4 address an IPv6 address stands for: IPv4-mapped (`::ffff:a.b.c.d`),
    /// IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::/48`).
    /// Such an address reaches (or is routed towards) that IPv4 address, so it is judged as it.
    var embeddedV4: UInt32? {
        guard case .v6(let number) = self else { return nil }
        let low32 = UInt32(truncatingIfNeeded: number)
        if number >> 32 == 0xFFFF { return low32 }
        if number >> 32 == 0, number > 1 { return low32 }
        if number >> 32 == 0x0064_FF9B_0000_0000_0000_0000 { return low32 }
        if number >> 112 == 0x2002 { return UInt32(truncatingIfNeeded: number >> 80) }
        return nil
    }

    /// The text form (`inet_ntop`), without brackets.
    var description: String {
        switch self {
        case .v4(let number):
            var address = in_addr(s_addr: number.bigEndian)
            var buffer = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            return inet_ntop(AF_INET, &address, &buffer, socklen_t(buffer.count)).map { String(cString: $0) } ?? "?"
        case .v6(let number):
            var address = in6_addr()
            withUnsafeMutableBytes(of: &address) { raw in
                for index in 0..<16 { raw[index] = UInt8(truncatingIfNeeded: number >> (8 * (15 - index))) }
            }
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            return inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count)).map { String(cString: $0) } ?? "?"
        }
    }

    /// How the address is written as a URL host: IPv6 in brackets.
    var urlHost: String {
        switch self {
        case .v4: description
        case .v6: "[\(description)]"
        }
    }

    private static func number(of address: in6_addr) -> UInt128 {
        withUnsafeBytes(of: address) { raw in raw.reduce(UInt128(0)) { $0 << 8 | UInt128($1) } }
    }
}

/// An address range written `10.0.0.0/8` or `fc00::/7` (a bare address is a range of one).
struct AddressRange: Hashable, Sendable, CustomStringConvertible {
    let base: IPAddress
    let prefixLength: Int

    /// Parses `address/prefix` or `address`; the address bits after the prefix must be zero
    /// (`10.0.0.1/8` is refused rather than read as `10.0.0.0/8`).
    init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else { return nil }
        var length = address.width
        if parts.count == 2 {
            guard parts[1].allSatisfy(\.isASCIIDigit), let parsed = Int(parts[1]), (0...address.width).contains(parsed) else {
                return nil
            }
            length = parsed
        }
        switch address {
        case .v4(let number): if number & ~Self.mask32(length) != 0 { return nil }
        case .v6(let number): if number & ~Self.mask128(length) != 0 { return nil }
        }
        self.init(base: address, prefixLength: length)
    }

    init(base: IPAddress, prefixLength: Int) {
        self.base = base
        self.prefixLength = prefixLength
    }

    /// Whether `address` lies in the range (an IPv4 range never contains an IPv6 address).
    func contains(_ address: IPAddress) -> Bool {
        switch (base, address) {
        case (.v4(let low), .v4(let number)):
            number & Self.mask32(prefixLength) == low & Self.mask32(prefixLength)
        case (.v6(let low), .v6(let number)):
            number & Self.mask128(prefixLength) == low & Self.mask128(prefixLength)
        default:
            false
        }
    }

    var description: String { "\(base)/\(prefixLength)" }

    private static func mask32(_ length: Int) -> UInt32 {
        length == 0 ? 0 : UInt32.max << (32 - length)
    }

    private static func mask128(_ length: Int) -> UInt128 {
        length == 0 ? 0 : UInt128.max << (128 - length)
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isWholeNumber }
}

extension IPAddress {
    /// 32 or 128.
    var width: Int {
        switch self {
        case .v4: 32
        case .v6: 128
        }
    }
}

/// A value that resumes one waiting continuation, whoever comes first: the answer or a
/// cancellation that arrived before or after the wait began. Later values are dropped.
final class LateAnswer<Value: Sendable>: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<Value, Never>?, early: Value?)>((nil, nil))

    /// Starts the wait; a value that came first resumes it at once.
    func wait(with continuation: CheckedContinuation<Value, Never>) {
        let early = state.withLock { state -> Value? in
            if let early = state.early { return early }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(returning: early) }
    }

    /// Delivers a value: to the waiting continuation, or kept for a wait yet to begin (first value wins).
    func resume(_ value: Value) {
        let continuation = state.withLock { state -> CheckedContinuation<Value, Never>? in
            let waiting = state.continuation
            state.continuation = nil
            if waiting == nil && state.early == nil { state.early = value }
            return waiting
        }
        continuation?.resume(returning: value)
    }
}

/// Name resolution and the machine's own addresses, off Swift's cooperative pool.
enum AddressResolver {
    /// Every address `host` resolves to (`getaddrinfo`, TCP), in the resolver's order, without
    /// duplicates; empty when it does not resolve. Runs on a thread of its own: `getaddrinfo`
    /// blocks, sometimes for seconds.
    /// Cancellation returns at once with no address (the lookup finishes on its thread, unread).
    static func resolve(_ host: String) async -> [IPAddress] {
        let answer = LateAnswer<[IPAddress]>()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<[IPAddress], Never>) in
                answer.wait(with: continuation)
                let thread = Thread { answer.resume(resolveNow(host)) }
                thread.name = "baton.resolve"
                thread.start()
            }
        } onCancel: {
            answer.resume([])
        }
    }

    /// The blocking lookup behind ``resolve(_:)``.
    private static func resolveNow(_ host: String) -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        guard !host.isEmpty, !host.contains("\0"), getaddrinfo(host, nil, &hints, &list) == 0 else { return [] }
        defer { freeaddrinfo(list) }
        var addresses: [IPAddress] = []
        var entry = list
        while let current = entry {
            if let pointer = current.pointee.ai_addr, let address = IPAddress(UnsafePointer(pointer)),
               !addresses.contains(address) {
                addresses.append(address)
            }
            entry = current.pointee.ai_next
        }
        return addresses
    }

    /// The addresses of this machine's network interfaces (`getifaddrs`).
    static func interfaceAddresses() -> [IPAddress] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return [] }
        defer { freeifaddrs(list) }
        var addresses: [IPAddress] = []
        var entry = list
        while let current = entry {
            if let pointer = current.pointee.ifa_addr, let address = IPAddress(UnsafePointer(pointer)),
               !addresses.contains(address) {
                addresses.append(address)
            }
            entry = current.pointee.ifa_next
        }
        return addresses
    }
}
