import BatonCore
import RedisClient

/// A dashboard session: who signed in with an API key, and the token state-changing requests
/// must echo (`X-Baton-CSRF`). Kept in Redis so that any gateway of the deployment knows it.
public struct DashboardSession: Sendable, Hashable {
    public var userID: String
    public var isAdmin: Bool
    public var csrf: String

    public init(userID: String, isAdmin: Bool, csrf: String) {
        self.userID = userID
        self.isAdmin = isAdmin
        self.csrf = csrf
    }
}

extension BatonStore {
    /// Stores a session under the digest of its cookie token (the token itself is never stored).
    public func createSession(_ session: DashboardSession, tokenDigest: String, seconds: Int) async throws {
        let value = JSONValue.object([
            "user_id": .string(session.userID), "admin": .bool(session.isAdmin), "csrf": .string(session.csrf),
        ]).jsonString()
        try await redis.send(RedisCommand("SET", keys.session(tokenDigest), value, "EX", String(seconds)))
    }

    /// The session of a cookie token's digest, or `nil` (expired, signed out, or never issued;
    /// a record that does not parse counts as none).
    public func session(tokenDigest: String) async throws -> DashboardSession? {
        guard let text = try await redis.send(RedisCommand("GET", keys.session(tokenDigest))).string,
              let object = try? JSONValue(parsing: text), let userID = object["user_id"]?.stringValue,
              let csrf = object["csrf"]?.stringValue, Identifier.isValid(userID)
        else { return nil }
        return DashboardSession(userID: userID, isAdmin: object["admin"]?.boolValue ?? false, csrf: csrf)
    }

    /// Ends a session.
    public func dropSession(tokenDigest: String) async throws {
        try await redis.send(RedisCommand("DEL", keys.session(tokenDigest)))
    }
}
