import BatonCore
import Foundation
import Yams

/// Reads a task array from a JSON or YAML file (`.yaml`/`.yml` by extension, JSON otherwise).
enum TreeFile {
    static func load(_ path: String) throws -> [TaskSubmission] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BatonError.invalidArgument("cannot read \(path)", field: "file")
        }
        if path.hasSuffix(".yaml") || path.hasSuffix(".yml") {
            let text = String(decoding: data, as: UTF8.self)
            guard let document = try Yams.load(yaml: text) else {
                throw BatonError.invalidArgument("\(path) is empty", field: "file")
            }
            return try TaskSubmission.decode(array: try json(from: document, path: "tasks"))
        }
        return try TaskSubmission.decode(data: data)
    }

    /// Converts what Yams parsed into JSON values.
    static func json(from value: Any, path: String) throws -> JSONValue {
        switch value {
        case is NSNull: return .null
        case let value as Bool: return .bool(value)
        case let value as Int: return .int(value)
        case let value as Double: return .double(value)
        case let value as String: return .string(value)
        case let value as [Any]:
            return .array(try value.enumerated().map { try json(from: $1, path: "\(path)[\($0)]") })
        case let value as [String: Any]:
            var object: [String: JSONValue] = [:]
            for (key, item) in value { object[key] = try json(from: item, path: "\(path).\(key)") }
            return .object(object)
        case let value as [AnyHashable: Any]:
            var object: [String: JSONValue] = [:]
            for (key, item) in value { object["\(key)"] = try json(from: item, path: "\(path).\(key)") }
            return .object(object)
        default:
            throw BatonError.invalidArgument("\(path) has a value YAML cannot map to JSON", field: path)
        }
    }
}
