import BatonCore

/// What a result (or partial result) must satisfy before the agent reports it, and the limit on
/// error messages. Nothing is cut silently: a result that does not fit fails the task with a
/// message that says why.
struct ResultLimits: Sendable {
    /// The largest compact JSON text of a result, in bytes (`agent.max_result_bytes`).
    var maxBytes: Int

    /// The deepest nesting of a result: the scheduler merges it one level deeper into its
    /// dependents' inputs, which must still parse within ``JSONValue/maxParsingDepth``.
    static let maxDepth = JSONValue.maxParsingDepth - 1

    /// The longest error message reported, in bytes; a longer one is cut and says so.
    static let maxErrorBytes = 65_536

    /// The compact JSON text of `value`, or the error to fail the task with:
    /// `result is 2097152 bytes; agent.max_result_bytes allows 1048576`.
    /// - Parameter what: `result` or `partial result`, for the message.
    func encode(_ value: JSONValue, as what: String) -> Result<String, ExecutorFailure> {
        if Self.nesting(of: value, exceeds: Self.maxDepth) {
            return .failure(ExecutorFailure(
                "\(what) is nested more than \(Self.maxDepth) levels deep (dependents receive it one level deeper, "
                    + "and JSON may nest at most \(JSONValue.maxParsingDepth) levels)"))
        }
        let text = value.jsonString()
        let size = text.utf8.count
        guard size <= maxBytes else {
            return .failure(ExecutorFailure("\(what) is \(size) bytes; agent.max_result_bytes allows \(maxBytes)"))
        }
        return .success(text)
    }

    /// `message`, or its first ``maxErrorBytes`` bytes (whole characters) and a note saying it was cut.
    static func errorText(_ message: String) -> String {
        let size = message.utf8.count
        guard size > maxErrorBytes else { return message }
        var end = message.utf8.index(message.utf8.startIndex, offsetBy: maxErrorBytes)
        while end > message.startIndex && message.utf8[end] & 0xC0 == 0x80 {
            message.utf8.formIndex(before: &end)
        }
        return String(message[..<end]) + " … (error message cut: \(size) bytes)"
    }

    /// Whether arrays and objects nest more than `limit` levels (`[]` is one level, `1` none).
    /// Iterative, so that a value nested far too deep cannot exhaust the stack here.
    static func nesting(of value: JSONValue, exceeds limit: Int) -> Bool {
        var pending: [(value: JSONValue, depth: Int)] = [(value, 0)]
        while let (current, depth) = pending.popLast() {
            switch current {
            case .array(let elements):
                if depth + 1 > limit { return true }
                for element in elements { pending.append((element, depth + 1)) }
            case .object(let members):
                if depth + 1 > limit { return true }
                for member in members.values { pending.append((member, depth + 1)) }
            default:
                continue
            }
        }
        return false
    }
}
