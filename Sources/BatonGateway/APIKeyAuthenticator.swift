import BatonConfig

/// Maps a presented API key to its ``Identity``. Keys are kept only as SHA-256 digests, and a
/// presented key is compared with every stored digest in constant time, so neither the key
/// material nor timing tells an attacker anything.
struct APIKeyAuthenticator: Sendable {
    private struct Entry: Sendable {
        let digest: [UInt8]
        let identity: Identity
    }

    private let entries: [Entry]

    init(keys: [APIKey]) {
        entries = keys.map { Entry(digest: SHA256.digest(Array($0.key.utf8)), identity: Identity(userID: $0.userID, isAdmin: $0.isAdmin)) }
    }

    /// The identity of `key`, or `nil` when no configured key matches.
    func identity(forKey key: String) -> Identity? {
        let digest = SHA256.digest(Array(key.utf8))
        var found: Identity?
        for entry in entries where SHA256.constantTimeEqual(entry.digest, digest) && found == nil {
            found = entry.identity
        }
        return found
    }
}
