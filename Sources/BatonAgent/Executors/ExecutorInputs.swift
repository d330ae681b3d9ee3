import BatonCore
import Dispatch

/// Reads typed fields from a task's `inputs` for the built-in executors, turning a wrong type into
/// an ``ExecutorFailure`` that names the field (`inputs.timeout_s must be a number`).
/// A missing key and `null` both read as `nil`.
struct ExecutorInputs {
    let members: [String: JSONValue]

    /// Reads `inputs`, which must be an object (`null` reads as the empty object).
    init(_ inputs: JSONValue) throws(ExecutorFailure) {
        switch inputs {
        case .object(let members): self.members = members
        case .null: self.members = [:]
        default: throw ExecutorFailure("inputs must be an object, not \(inputs.typeName)")
        }
    }

    func value(_ key: String) -> JSONValue? {
        guard let value = members[key], !value.isNull else { return nil }
        return value
    }

    func string(_ key: String) throws(ExecutorFailure) -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let text) = value else { throw typeError(key, "a string") }
        return text
    }

    /// A string that must be present and non-empty.
    func requiredString(_ key: String) throws(ExecutorFailure) -> String {
        guard let text = try string(key), !text.isEmpty else {
            throw ExecutorFailure("inputs.\(key) is required and must be a non-empty string")
        }
        return text
    }

    func double(_ key: String) throws(ExecutorFailure) -> Double? {
        guard let value = value(key) else { return nil }
        guard let number = value.doubleValue, number.isFinite else { throw typeError(key, "a number") }
        return number
    }

    /// A number of seconds in `0 < x ≤ maximum` (a timeout), else an error naming the field and
    /// the range: `inputs.timeout_s must be more than 0 and at most 604800`. Never clamped.
    func seconds(_ key: String, upTo maximum: Double) throws(ExecutorFailure) -> Double? {
        guard let value = value(key) else { return nil }
        guard let seconds = value.doubleValue, seconds.isFinite, seconds > 0, seconds <= maximum else {
            throw ExecutorFailure("inputs.\(key) must be more than 0 and at most \(ExecutorSupport.formatSeconds(maximum))")
        }
        return seconds
    }

    /// A number of seconds in `0 ≤ x ≤ maximum` (a duration that may be zero), else an error
    /// naming the field and the range: `inputs.seconds must be between 0 and 604800`. Never clamped.
    func duration(_ key: String, upTo maximum: Double) throws(ExecutorFailure) -> Double? {
        guard let value = value(key) else { return nil }
        guard let seconds = value.doubleValue, seconds.isFinite, seconds >= 0, seconds <= maximum else {
            throw ExecutorFailure("inputs.\(key) must be between 0 and \(ExecutorSupport.formatSeconds(maximum))")
        }
        return seconds
    }

    func bool(_ key: String) throws(ExecutorFailure) -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .bool(let flag) = value else { throw typeError(key, "a boolean") }
        return flag
    }

    /// An object whose values are strings (numbers and booleans are written out as text).
    func stringMap(_ key: String) throws(ExecutorFailure) -> [String: String]? {
        guard let value = value(key) else { return nil }
        guard case .object(let members) = value else { throw typeError(key, "an object") }
        var map: [String: String] = [:]
        for (name, member) in members {
            guard let text = ExecutorSupport.scalarText(member) else {
                throw ExecutorFailure("inputs.\(key).\(name) must be a string, number or boolean")
            }
            map[name] = text
        }
        return map
    }

    /// An array whose elements are strings (numbers and booleans are written out as text).
    func stringArray(_ key: String) throws(ExecutorFailure) -> [String]? {
        guard let value = value(key) else { return nil }
        guard case .array(let elements) = value else { throw typeError(key, "an array of strings") }
        var texts: [String] = []
        for (index, element) in elements.enumerated() {
            guard let text = ExecutorSupport.scalarText(element) else {
                throw ExecutorFailure("inputs.\(key)[\(index)] must be a string")
            }
            texts.append(text)
        }
        return texts
    }

    private func typeError(_ key: String, _ expected: String) -> ExecutorFailure {
        ExecutorFailure("inputs.\(key) must be \(expected), not \(members[key]?.typeName ?? "missing")")
    }
}

/// Small helpers shared by the built-in executors (kept in one namespace so that they cannot clash
/// with other code of the module).
enum ExecutorSupport {
    /// A string as is, a number or boolean as its JSON text; `nil` for null, arrays and objects.
    static func scalarText(_ value: JSONValue) -> String? {
        switch value {
        case .string(let text): text
        case .int(let number): String(number)
        case .double: value.jsonString()
        case .bool(let flag): flag ? "true" : "false"
        default: nil
        }
    }

    /// Formats a number of seconds for messages: `30` rather than `30.0`, `0.5` as is.
    static func formatSeconds(_ seconds: Double) -> String {
        if let whole = Int(exactly: seconds) { return String(whole) }
        return String(seconds)
    }

    /// The longest duration any executor input may ask for: 7 days (as `timeout_s` of a task).
    static let maxSeconds = 604_800.0

    /// A validated number of seconds as a `Duration`, or nil when it is not finite or outside
    /// `0…maxSeconds`: the checked conversion for values that came from outside (an input,
    /// a Redis record), where `Duration.seconds(_:)` or `Int64(seconds * 1000)` would trap.
    static func checkedDuration(seconds: Double) -> Duration? {
        guard seconds.isFinite, seconds >= 0, seconds <= maxSeconds else { return nil }
        return .milliseconds(Int64((seconds * 1000).rounded(.up)))
    }

    /// ``checkedDuration(seconds:)`` for a value already range-checked; anything else
    /// saturates (to zero or 7 days) instead of trapping.
    static func duration(seconds: Double) -> Duration {
        if let duration = checkedDuration(seconds: seconds) { return duration }
        return seconds > maxSeconds ? .seconds(Int64(maxSeconds)) : .zero
    }

    /// A duration as a floating-point number of seconds.
    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// A duration in seconds rounded to the millisecond, for results (`duration_s`, `slept_s`).
    static func roundedSeconds(_ duration: Duration) -> Double {
        (seconds(duration) * 1000).rounded() / 1000
    }

    /// Sleeps without reacting to Swift task cancellation (used where an executor must keep
    /// waiting, e.g. during a kill grace period, although the surrounding task was cancelled).
    static func uncancellableSleep(seconds: Double) async {
        guard seconds > 0 else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { continuation.resume() }
        }
    }
}
