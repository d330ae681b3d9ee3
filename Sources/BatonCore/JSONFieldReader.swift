/// Reads typed fields from a JSON object, turning a wrong type into a ``BatonError`` that names
/// the field (`tasks[3].priority must be an integer`). A missing key and `null` both read as `nil`.
struct JSONFieldReader {
    let members: [String: JSONValue]
    /// The path of the object itself, e.g. `tasks[3]`; empty at the top level.
    let path: String

    init(_ members: [String: JSONValue], path: String) {
        self.members = members
        self.path = path
    }

    /// Reads the object `value` at `path`, or fails with `<path> must be an object`.
    init(_ value: JSONValue, path: String) throws(BatonError) {
        guard case .object(let members) = value else {
            throw BatonError.invalidArgument("\(path) must be an object", field: path)
        }
        self.init(members, path: path)
    }

    func fieldPath(_ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    func value(_ key: String) -> JSONValue? {
        guard let value = members[key], !value.isNull else { return nil }
        return value
    }

    func string(_ key: String) throws(BatonError) -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let text) = value else { throw typeError(key, "a string") }
        return text
    }

    /// An integer; an integral double such as `2.0` is accepted.
    func int(_ key: String) throws(BatonError) -> Int? {
        guard let value = value(key) else { return nil }
        switch value {
        case .int(let number): return number
        case .double(let number):
            guard let integral = Int(exactly: number) else { throw typeError(key, "an integer") }
            return integral
        default: throw typeError(key, "an integer")
        }
    }

    func double(_ key: String) throws(BatonError) -> Double? {
        guard let value = value(key) else { return nil }
        guard let number = value.doubleValue else { throw typeError(key, "a number") }
        return number
    }

    func bool(_ key: String) throws(BatonError) -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .bool(let flag) = value else { throw typeError(key, "a boolean") }
        return flag
    }

    /// An object, kept as a ``JSONValue``.
    func object(_ key: String) throws(BatonError) -> JSONValue? {
        guard let value = value(key) else { return nil }
        guard case .object = value else { throw typeError(key, "an object") }
        return value
    }

    func array(_ key: String) throws(BatonError) -> [JSONValue]? {
        guard let value = value(key) else { return nil }
        guard case .array(let elements) = value else { throw typeError(key, "an array") }
        return elements
    }

    func nested(_ key: String) throws(BatonError) -> JSONFieldReader? {
        guard let value = value(key) else { return nil }
        return try JSONFieldReader(value, path: fieldPath(key))
    }

    /// A string that must be one of `type`'s raw values.
    func enumeration<T: RawRepresentable & CaseIterable>(_ key: String, _ type: T.Type) throws(BatonError) -> T?
    where T.RawValue == String {
        guard let text = try string(key) else { return nil }
        guard let parsed = T(rawValue: text) else {
            let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw BatonError.invalidArgument(
                "\(fieldPath(key)) must be one of \(allowed), not '\(text)'", field: fieldPath(key))
        }
        return parsed
    }

    func typeError(_ key: String, _ expected: String) -> BatonError {
        let field = fieldPath(key)
        return BatonError.invalidArgument("\(field) must be \(expected)", field: field)
    }
}
