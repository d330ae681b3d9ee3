import Foundation
import RedisClient

/// Which destinations `rest_executor` may call.
///
/// Every address a URL's host resolves to must be permitted (checked again for every redirect):
///
/// 1. the agent's own Redis (its host and port, and — when Redis is on this machine — that port on
///    every loopback, unspecified or local interface address) is never permitted, whatever
///    `agent.rest_allow` says;
/// 2. a host named in `agent.rest_allow` is permitted whatever it resolves to;
/// 3. an address inside a range of `agent.rest_allow` (`10.1.0.0/16`, `fd00::/8`, `127.0.0.1`) is permitted;
/// 4. an address in ``defaultDenied`` is refused: loopback, link-local, private, CGNAT, unspecified,
///    multicast, broadcast, reserved and documentation ranges. IPv6 forms that stand for an IPv4
///    address (IPv4-mapped, IPv4-compatible, NAT64, 6to4) are judged as that IPv4 address;
/// 5. any other (public) address is permitted.
public struct RestPolicy: Sendable {
    /// Host names admitted by name: lower-case, without a trailing dot.
    let allowedHosts: Set<String>
    /// Address ranges admitted.
    let allowedRanges: [AddressRange]
    /// Endpoints never called (the agent's Redis).
    let protectedEndpoints: [ProtectedEndpoint]
    /// This machine's interface addresses, when a protected endpoint is local.
    let localAddresses: Set<IPAddress>

    /// One host and port that must never be called.
    struct ProtectedEndpoint: Sendable {
        var host: String
        var port: Int
        var addresses: Set<IPAddress>
        /// The host is this machine: the port is protected on every local address.
        var isLocal: Bool
    }

    /// The ranges refused unless `agent.rest_allow` admits them.
    static let defaultDenied: [AddressRange] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001:db8::/32", "fc00::/7", "fe80::/10",
        "fec0::/10", "ff00::/8",
    ].map { AddressRange($0)! }

    /// Loopback and unspecified ranges: what reaches a service on this machine besides its interface addresses.
    static let localRanges: [AddressRange] = ["0.0.0.0/8", "127.0.0.0/8", "::/128", "::1/128"].map { AddressRange($0)! }

    /// The policy of the defaults: public addresses only, nothing protected.
    public init() {
        self.init(allowedHosts: [], allowedRanges: [], protectedEndpoints: [], localAddresses: [])
    }

    init(allowedHosts: Set<String>, allowedRanges: [AddressRange], protectedEndpoints: [ProtectedEndpoint],
         localAddresses: Set<IPAddress>) {
        self.allowedHosts = allowedHosts
        self.allowedRanges = allowedRanges
        self.protectedEndpoints = protectedEndpoints
        self.localAddresses = localAddresses
    }

    /// Builds the policy from `agent.rest_allow` entries and the endpoints to protect (resolved now).
    ///
    /// An entry is an IP address, a range (`10.0.0.0/8`, `fd00::/8`; the bits after the prefix must
    /// be zero) or a host name (letters, digits, `-`, `_` and dots). Wildcards are not supported.
    /// - Throws: ``AgentSetupError`` for `agent.rest_allow`, naming the entry.
    public static func make(allow entries: [String], protecting endpoints: [(host: String, port: Int)]) async throws(AgentSetupError)
        -> RestPolicy
    {
        var hosts: Set<String> = []
        var ranges: [AddressRange] = []
        for entry in entries {
            let text = entry.trimmingCharacters(in: .whitespaces)
            if let range = AddressRange(text) {
                ranges.append(range)
            } else if let host = Self.hostName(text) {
                hosts.insert(host)
            } else {
                throw AgentSetupError(
                    key: "agent.rest_allow",
                    "'\(entry)' is not a host name, an IP address or a range such as 10.0.0.0/8 (with zero host bits)")
            }
        }
        let interfaces = Set(AddressResolver.interfaceAddresses())
        var protected: [ProtectedEndpoint] = []
        for endpoint in endpoints {
            let host = normalized(endpoint.host)
            let addresses = Set(await AddressResolver.resolve(host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))))
            let isLocal = host == "localhost" || addresses.contains { address in
                interfaces.contains(address) || candidates(address).contains { a in localRanges.contains { $0.contains(a) } }
            }
            protected.append(ProtectedEndpoint(host: host, port: endpoint.port, addresses: addresses, isLocal: isLocal))
        }
        return RestPolicy(allowedHosts: hosts, allowedRanges: ranges, protectedEndpoints: protected,
                          localAddresses: protected.contains(where: \.isLocal) ? interfaces : [])
    }

    /// Builds the policy from `agent.rest_allow` entries, protecting the agent's Redis when it
    /// is reached over TCP.
    public static func make(allow entries: [String], protectingRedis redis: RedisConfiguration) async throws(AgentSetupError)
        -> RestPolicy
    {
        var endpoints: [(host: String, port: Int)] = []
        // Every seed of a cluster too (its other nodes are usually on the same hosts).
        for case .tcp(let host, let port) in [redis.endpoint] + redis.seeds { endpoints.append((host, port)) }
        return try await make(allow: entries, protecting: endpoints)
    }

    /// Whether a connection to `address`, which `host` resolved to, on `port`, is permitted.
    func permits(_ address: IPAddress, host: String, port: Int) -> Bool {
        let host = Self.normalized(host)
        let forms = Self.candidates(address)
        for endpoint in protectedEndpoints where endpoint.port == port {
            if endpoint.host == host || forms.contains(where: endpoint.addresses.contains) { return false }
            if endpoint.isLocal, forms.contains(where: isLocal) { return false }
        }
        if allowedHosts.contains(host) { return true }
        if forms.contains(where: { form in allowedRanges.contains { $0.contains(form) } }) { return true }
        return !forms.contains { form in Self.defaultDenied.contains { $0.contains(form) } }
    }

    /// Whether an address reaches this machine: loopback, unspecified or an interface's own.
    private func isLocal(_ address: IPAddress) -> Bool {
        localAddresses.contains(address) || Self.localRanges.contains { $0.contains(address) }
    }

    /// An address and, for an IPv6 form of an IPv4 address, that IPv4 address.
    private static func candidates(_ address: IPAddress) -> [IPAddress] {
        [address] + (address.embeddedV4.map { [IPAddress.v4($0)] } ?? [])
    }

    /// A host as compared: lower-case, without a trailing dot.
    static func normalized(_ host: String) -> String {
        var host = host.lowercased()
        if host.hasSuffix(".") { host.removeLast() }
        return host
    }

    /// The normalised host name of an entry, or nil if it is not one.
    private static func hostName(_ text: String) -> String? {
        let host = normalized(text)
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-_.")
        guard !host.isEmpty, host.utf8.count <= 253, host.allSatisfy(allowed.contains),
              !host.hasPrefix("."), !host.contains(".."),
              !host.allSatisfy(Set("0123456789.").contains) else { return nil }
        return host
    }
}
