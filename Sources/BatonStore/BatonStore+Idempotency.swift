import RedisClient

/// The gateway's `Idempotency-Key` records (``Keys/idempotency(userID:keyDigest:)``): one
/// expiring string per user and key, whose JSON the gateway writes and reads.
extension BatonStore {
    /// Writes `value` for the key only if it has no record (`SET NX EX`); whether it did.
    public func claimIdempotencyRecord(userID: String, keyDigest: String, value: String, seconds: Int) async throws -> Bool {
        let key = keys.idempotency(userID: userID, keyDigest: keyDigest)
        return try await redis.send(RedisCommand("SET", key, value, "NX", "EX", String(seconds))).string == "OK"
    }

    /// The key's record, or `nil` when it has none (never written, expired or dropped).
    public func idempotencyRecord(userID: String, keyDigest: String) async throws -> String? {
        try await redis.send(RedisCommand("GET", keys.idempotency(userID: userID, keyDigest: keyDigest))).string
    }

    /// Replaces the key's record with `value`, expiring after `seconds`.
    public func storeIdempotencyRecord(userID: String, keyDigest: String, value: String, seconds: Int) async throws {
        try await redis.send(RedisCommand("SET", keys.idempotency(userID: userID, keyDigest: keyDigest), value, "EX", String(seconds)))
    }

    /// Drops the key's record.
    public func dropIdempotencyRecord(userID: String, keyDigest: String) async throws {
        try await redis.send(RedisCommand("DEL", keys.idempotency(userID: userID, keyDigest: keyDigest)))
    }
}
