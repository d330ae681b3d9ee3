import BatonCore
import BatonStore

/// `Idempotency-Key` on `POST /v1/trees`: the first request with a key stores its answer in
/// Redis (`Keys.idempotency`, one string per user and key, expiring); a repeat with the same body
/// gets the same answer, a repeat with another body is refused (409).
///
/// The record is claimed with `SET NX` before the tree is created. Its submission token is derived
/// from the user, the key and the body (``Record/submissionToken``), so every request with one key
/// and one body is the same submission: a retry after an answer that never arrived, or while the
/// first request still runs (or died with its claim pending), completes that submission and answers
/// with its tree instead of creating a second one or being refused. A request that fails drops its
/// claim, so the client may retry it.
struct IdempotencyStore: Sendable {
    /// How a request with a key goes on.
    enum Claim: Sendable {
        /// First use: run the request, then ``remember(_:status:body:)`` or ``release(_:)``.
        case fresh(Record)
        /// Already answered: send this again.
        case replay(status: Int, body: String)
    }

    /// A claimed key.
    struct Record: Sendable {
        let userID: String
        /// SHA-256 hex of the client's key.
        let keyDigest: String
        let bodyDigest: String
        /// The record's key name (``Keys/idempotency(userID:keyDigest:)``): it names the user and the key.
        let keyName: String
        /// The token of the one submission this user, key and body name (see ``BatonStore/submit``).
        var submissionToken: String { "idem-" + SHA256.hex(Array((keyName + "\n" + bodyDigest).utf8)) }
    }

    let store: BatonStore
    /// Seconds an answer is remembered.
    let ttlSeconds: Int
    /// Seconds a claim without an answer holds (a crashed gateway frees the key after this).
    let pendingSeconds = 120

    /// The rule for keys: 1 to 255 visible ASCII characters.
    static func validate(_ key: String) throws -> String {
        guard !key.isEmpty, key.utf8.count <= 255, key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw BatonError.invalidArgument(
                "Idempotency-Key must be 1 to 255 visible ASCII characters", field: "Idempotency-Key")
        }
        return key
    }

    /// Claims `key` for a request whose body has `bodyDigest`, or finds its earlier answer.
    /// - Throws: `conflict` when the key was used with another body, or its first request is still running.
    func claim(userID: String, key: String, bodyDigest: String) async throws -> Claim {
        let keyDigest = SHA256.hex(Array(key.utf8))
        let record = Record(
            userID: userID, keyDigest: keyDigest, bodyDigest: bodyDigest,
            keyName: store.keys.idempotency(userID: userID, keyDigest: keyDigest))
        let pending = JSONValue.object(["state": "pending", "hash": .string(bodyDigest)]).jsonString()
        for _ in 0..<3 {
            if try await store.claimIdempotencyRecord(userID: userID, keyDigest: record.keyDigest, value: pending, seconds: pendingSeconds) {
                return .fresh(record)
            }
            guard let text = try await store.idempotencyRecord(userID: userID, keyDigest: record.keyDigest) else { continue }
            let stored = (try? JSONValue(parsing: text)) ?? .null
            guard stored["hash"]?.stringValue == bodyDigest else {
                throw BatonError.conflict(
                    "Idempotency-Key '\(key)' was already used with a different request body", field: "Idempotency-Key")
            }
            guard stored["state"]?.stringValue == "done", let status = stored["status"]?.intValue,
                  let body = stored["body"]?.stringValue
            else {
                // The first request is still running, or died: the same token makes running this
                // one too safe (both store one tree and give the same answer).
                return .fresh(record)
            }
            return .replay(status: status, body: body)
        }
        throw BatonError.conflict("Idempotency-Key '\(key)' is contended; retry later", field: "Idempotency-Key")
    }

    /// Stores the answer of a claimed key.
    func remember(_ record: Record, status: Int, body: String) async throws {
        let value = JSONValue.object([
            "state": "done", "hash": .string(record.bodyDigest), "status": .int(status), "body": .string(body),
        ]).jsonString()
        try await store.storeIdempotencyRecord(userID: record.userID, keyDigest: record.keyDigest, value: value, seconds: ttlSeconds)
    }

    /// Drops a claim whose request failed.
    func release(_ record: Record) async {
        try? await store.dropIdempotencyRecord(userID: record.userID, keyDigest: record.keyDigest)
    }
}
