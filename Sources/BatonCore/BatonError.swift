import Foundation

/// The one failure vocabulary of Baton, from Lua scripts to HTTP answers.
///
/// Lua scripts reply `BATON <code> <message>` (see ``init(scriptError:)``), the store turns
/// that into a `BatonError`, and the gateway answers ``httpStatus`` with ``jsonValue`` as body.
public struct BatonError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is. The raw value is the wire form used by scripts and clients.
    public enum Code: String, Sendable, Hashable, CaseIterable, Codable {
        /// The request is malformed: bad JSON, a field of the wrong type.
        case invalidArgument = "invalid_argument"
        /// The request is well formed but breaks a rule (tree validation, ranges).
        case validationFailed = "validation_failed"
        /// The task or tree does not exist or belongs to another user.
        case notFound = "not_found"
        /// The change conflicts with the current state (for example a stale attempt).
        case conflict
        /// An id that must be new is already taken.
        case alreadyExists = "already_exists"
        /// The target is archived and read-only.
        case immutable
        /// The task is already `completed`, `failed` or `cancelled`.
        case alreadyTerminal = "already_terminal"
        /// No valid credentials were given.
        case unauthorized
        /// Credentials are valid but the caller may not do this.
        case forbidden
        /// The request is larger than the deployment allows.
        case payloadTooLarge = "payload_too_large"
        /// A backing service (Redis) cannot be reached.
        case unavailable
        /// A bug or an unexpected state.
        case `internal`

        /// The HTTP status the gateway answers for this code.
        public var httpStatus: Int {
            switch self {
            case .invalidArgument: 400
            case .validationFailed: 422
            case .notFound: 404
            case .conflict, .alreadyExists, .immutable, .alreadyTerminal: 409
            case .unauthorized: 401
            case .forbidden: 403
            case .payloadTooLarge: 413
            case .unavailable: 503
            case .internal: 500
            }
        }
    }

    /// What kind of failure this is.
    public var code: Code
    /// A human-readable message naming the offending task or field.
    public var message: String
    /// The offending field, as a path such as `tasks[3].dependencies[0]`, when one is to blame.
    public var field: String?
    /// The task's status when a transition was refused because of it (`already_terminal`).
    public var currentStatus: String?
    /// The operation that failed (for example `submit`, `cancel`), when known.
    public var operation: String?

    /// Creates an error.
    public init(
        code: Code,
        message: String,
        field: String? = nil,
        currentStatus: String? = nil,
        operation: String? = nil
    ) {
        self.code = code
        self.message = message
        self.field = field
        self.currentStatus = currentStatus
        self.operation = operation
    }

    /// The HTTP status the gateway answers for this error.
    public var httpStatus: Int { code.httpStatus }

    /// `<code>: <message>`, followed by the field and operation when set.
    public var description: String {
        var text = "\(code.rawValue): \(message)"
        if let field { text += " (field: \(field))" }
        if let operation { text += " (operation: \(operation))" }
        return text
    }

    /// The same error tagged with the operation that failed.
    public func during(_ operation: String) -> BatonError {
        var copy = self
        copy.operation = operation
        return copy
    }

    /// The error as a JSON object: `code`, `message`, and `field` / `current_status` when set.
    public var jsonValue: JSONValue {
        var members: [String: JSONValue] = ["code": .string(code.rawValue), "message": .string(message)]
        if let field { members["field"] = .string(field) }
        if let currentStatus { members["current_status"] = .string(currentStatus) }
        return .object(members)
    }
}

// MARK: - Common errors

extension BatonError {
    /// A malformed request (400).
    public static func invalidArgument(_ message: String, field: String? = nil) -> BatonError {
        BatonError(code: .invalidArgument, message: message, field: field)
    }

    /// A well-formed request that breaks a rule (422).
    public static func validationFailed(_ message: String, field: String? = nil) -> BatonError {
        BatonError(code: .validationFailed, message: message, field: field)
    }

    /// `Task <id> not found` (404). A task of another user is reported the same way.
    public static func taskNotFound(_ taskID: String) -> BatonError {
        BatonError(code: .notFound, message: "Task \(taskID) not found")
    }

    /// Something other than a task is missing (404).
    public static func notFound(_ message: String, field: String? = nil) -> BatonError {
        BatonError(code: .notFound, message: message, field: field)
    }

    /// A conflict with the current state (409).
    public static func conflict(_ message: String, field: String? = nil) -> BatonError {
        BatonError(code: .conflict, message: message, field: field)
    }

    /// An id that must be new is taken (409).
    public static func alreadyExists(_ message: String, field: String? = nil) -> BatonError {
        BatonError(code: .alreadyExists, message: message, field: field)
    }

    /// `Archived task <id> is immutable; copy it before editing` (409).
    public static func immutable(taskID: String) -> BatonError {
        BatonError(code: .immutable, message: "Archived task \(taskID) is immutable; copy it before editing")
    }

    /// `Task <id> is already <status>` (409), with ``currentStatus`` set.
    public static func alreadyTerminal(taskID: String, status: TaskStatus) -> BatonError {
        BatonError(
            code: .alreadyTerminal,
            message: "Task \(taskID) is already \(status.rawValue)",
            currentStatus: status.rawValue
        )
    }

    /// Missing or invalid credentials (401).
    public static func unauthorized(_ message: String = "Authentication required") -> BatonError {
        BatonError(code: .unauthorized, message: message)
    }

    /// The caller may not do this (403).
    public static func forbidden(_ message: String) -> BatonError {
        BatonError(code: .forbidden, message: message)
    }

    /// The request is too large (413).
    public static func payloadTooLarge(_ message: String, field: String? = nil) -> BatonError {
        BatonError(code: .payloadTooLarge, message: message, field: field)
    }

    /// A backing service cannot be reached (503).
    public static func unavailable(_ message: String) -> BatonError {
        BatonError(code: .unavailable, message: message)
    }

    /// A bug or an unexpected state (500).
    public static func `internal`(_ message: String) -> BatonError {
        BatonError(code: .internal, message: message)
    }
}

extension BatonError: LocalizedError {
    /// The message, for APIs that show `localizedDescription`.
    public var errorDescription: String? { message }
}
