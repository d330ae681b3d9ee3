import Foundation

/// The checks every new tree passes, whichever way it entered: the gateway's `POST /v1/trees`
/// or the Redis-native submission stream (`docs/PROTOCOL.md`). Both call ``parse(_:userID:isAdmin:)``
/// (or ``parse(bytes:userID:isAdmin:)``) and then store with ``validator``, so a submission
/// refused by one entry is refused by the other with the same error.
public struct SubmissionRules: Sendable, Hashable {
    /// What a submission asks for once parsed.
    public struct Parsed: Sendable, Hashable {
        /// The tasks as written (validated as a tree later, by ``TreeValidator``).
        public var items: [TaskSubmission]
        /// The body's `execute` member, when it has one.
        public var execute: Bool?
        /// The body's `retention_s` member: seconds the tree is kept once finished.
        public var retentionSeconds: Int? = nil
        /// The body's `run_at` member (RFC 3339), as epoch ms: store now, start then.
        public var runAtMillis: Int64? = nil
    }

    /// The longest `retention_s` a submission may ask for: 10 years.
    public static let maxRetentionSeconds = 315_360_000

    /// The tree rules: ranges, references, cycles, known executors, the largest array.
    public var validator: TreeValidator
    /// Who may use which executor type.
    public var executorPolicy: ExecutorPolicy
    /// The largest body, in bytes (the gateway's `max_body_bytes`).
    public var maxBodyBytes: Int

    /// Creates the rules.
    public init(validator: TreeValidator = TreeValidator(), executorPolicy: ExecutorPolicy = .default, maxBodyBytes: Int = 10_485_760) {
        self.validator = validator
        self.executorPolicy = executorPolicy
        self.maxBodyBytes = maxBodyBytes
    }

    /// Parses a body from its bytes: at most ``maxBodyBytes`` (`payload_too_large`), strict
    /// UTF-8 JSON (`invalid_argument`), then ``parse(_:userID:isAdmin:)``.
    public func parse(bytes: some Collection<UInt8>, userID: String?, isAdmin: Bool) throws(BatonError) -> Parsed {
        guard bytes.count <= maxBodyBytes else {
            throw BatonError.payloadTooLarge(
                "Submission is \(bytes.count) bytes; at most \(maxBodyBytes) are allowed", field: "tasks")
        }
        return try parse(try JSONValue(parsing: Data(bytes)), userID: userID, isAdmin: isAdmin)
    }

    /// Parses a body: a JSON array of tasks, or an object with exactly `tasks` and optionally a
    /// boolean `execute`; every task decoded (types checked, fields named) and allowed by the
    /// executor policy for the caller.
    /// - Parameters:
    ///   - userID: the caller (`nil`: a Redis-native submission that names no user).
    ///   - isAdmin: whether the caller has the admin role.
    /// - Throws: ``BatonError`` `invalid_argument`, `forbidden` (executor policy).
    public func parse(_ body: JSONValue, userID: String?, isAdmin: Bool) throws(BatonError) -> Parsed {
        var execute: Bool?
        var retention: Int?
        var runAt: Int64?
        if case .object(let members) = body {
            if let unknown = members.keys.sorted().first(where: { !["tasks", "execute", "retention_s", "run_at"].contains($0) }) {
                throw BatonError.invalidArgument("Unknown field '\(unknown)'; allowed: execute, retention_s, run_at, tasks", field: unknown)
            }
            if let value = members["retention_s"], !value.isNull {
                retention = try Self.retention(value)
            }
            if let value = members["run_at"], !value.isNull {
                guard let text = value.stringValue else {
                    throw BatonError.invalidArgument("run_at must be an RFC 3339 time, e.g. 2026-12-02T03:00:00Z", field: "run_at")
                }
                runAt = try Self.runAt(text)
            }
            guard members["tasks"] != nil else {
                throw BatonError.invalidArgument("Request body must have a \"tasks\" array", field: "tasks")
            }
            switch members["execute"] {
            case nil, .null?: break
            case .bool(let flag)?: execute = flag
            default: throw BatonError.invalidArgument("execute must be a boolean", field: "execute")
            }
        }
        let items = try TaskSubmission.decode(array: body)
        try executorPolicy.check(items, userID: userID, isAdmin: isAdmin)
        if runAt != nil && execute == false {
            throw BatonError.invalidArgument("run_at starts the tree at that time: leave out execute: false", field: "run_at")
        }
        return Parsed(items: items, execute: execute, retentionSeconds: retention, runAtMillis: runAt)
    }

    /// A `run_at` value: an RFC 3339 time with its offset, as epoch ms.
    public static func runAt(_ text: String) throws(BatonError) -> Int64 {
        guard let millis = Timestamp.millis(rfc3339: text) else {
            throw BatonError.invalidArgument("run_at must be an RFC 3339 time with an offset, e.g. 2026-12-02T03:00:00Z (got '\(text)')", field: "run_at")
        }
        return millis
    }

    /// A `retention_s` value: an integer number of seconds in 0…``maxRetentionSeconds``.
    public static func retention(_ value: JSONValue) throws(BatonError) -> Int {
        guard let seconds = value.intValue, (0...maxRetentionSeconds).contains(seconds) else {
            throw BatonError.invalidArgument(
                "retention_s must be an integer from 0 to \(maxRetentionSeconds) seconds", field: "retention_s")
        }
        return seconds
    }

    /// A boolean written as text (a Redis stream field): `true`/`false` or `1`/`0`, nothing else.
    public static func flag(_ text: String, field: String) throws(BatonError) -> Bool {
        switch text {
        case "true", "1": return true
        case "false", "0": return false
        default: throw BatonError.invalidArgument("\(field) must be true or false, not '\(text)'", field: field)
        }
    }
}
