import BatonCore
import Foundation
import Hummingbird
import NIOCore

/// Reading what a client sent: bodies within the configured limit, ids from the path, query values.
/// Anything malformed becomes a 4xx ``BatonError`` and nothing is changed.
struct RequestInput {
    /// Largest accepted body, in bytes.
    let maxBodyBytes: Int

    /// The body's bytes, at most ``maxBodyBytes`` (a larger one is `payload_too_large`, 413).
    func bytes(_ request: Request) async throws -> ByteBuffer {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBodyBytes {
            throw GatewayError.bodyTooLarge(limit: maxBodyBytes)
        }
        do {
            return try await request.body.collect(upTo: maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw GatewayError.bodyTooLarge(limit: maxBodyBytes)
        }
    }

    /// The body as JSON. An empty body is `nil` (or `body required` when `required`).
    func json(_ request: Request, required: Bool) async throws -> JSONValue? {
        let buffer = try await bytes(request)
        if buffer.readableBytes == 0 || buffer.readableBytesView.allSatisfy({ $0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 }) {
            if required { throw GatewayError.bodyRequired }
            return nil
        }
        return try JSONValue(parsing: Data(buffer.readableBytesView))
    }

    /// The body as a JSON object whose keys are all in `allowed` (an empty body is `{}` unless `required`).
    func object(_ request: Request, allowed: Set<String>, required: Bool = false) async throws -> [String: JSONValue] {
        guard let value = try await json(request, required: required) else { return [:] }
        guard case .object(let members) = value else {
            throw BatonError.invalidArgument("Request body must be a JSON object", field: "body")
        }
        if let unknown = members.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw BatonError.invalidArgument(
                "Unknown field '\(unknown)'; allowed: \(allowed.sorted().joined(separator: ", "))", field: unknown)
        }
        return members
    }

    /// A task or tree id from the path: percent-decoded, valid UTF-8, 1…255 bytes, no control characters.
    static func pathID(_ context: GatewayContext, _ name: String = "id") throws -> String {
        guard let raw = context.parameters.get(name),
              let decoded = raw.removingPercentEncoding,
              isValidID(decoded)
        else { throw GatewayError.badPathParameter(name) }
        return decoded
    }

    /// The rule of SPEC "Task record" for ids (``Identifier``).
    static func isValidID(_ id: String) -> Bool {
        Identifier.isValid(id)
    }

    /// An optional boolean query parameter: `true` or `false`.
    static func flag(_ request: Request, _ name: String) throws -> Bool {
        guard let text = request.uri.queryParameters.get(name) else { return false }
        switch text {
        case "true": return true
        case "false": return false
        default: throw GatewayError.badQuery(name, "must be true or false")
        }
    }

    /// An optional string query parameter; an empty value counts as absent.
    /// `?limit=`: an integer from 1 to 1000, `fallback` when absent.
    static func limit(_ request: Request, default fallback: Int) throws -> Int {
        guard let text = try string(request, "limit") else { return fallback }
        guard let value = Int(text), (1...1000).contains(value) else {
            throw GatewayError.badQuery("limit", "must be an integer from 1 to 1000")
        }
        return value
    }

    static func string(_ request: Request, _ name: String) throws -> String? {
        guard let text = request.uri.queryParameters.get(name), !text.isEmpty else { return nil }
        guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }),
              text.utf8.count <= 1024
        else { throw GatewayError.badQuery(name, "must be at most 1024 bytes without control characters") }
        return text
    }
}

// MARK: - Typed members of a body object

extension RequestInput {
    static func string(_ members: [String: JSONValue], _ key: String) throws -> String? {
        switch members[key] {
        case nil, .null?: return nil
        case .string(let text)?: return text
        default: throw BatonError.invalidArgument("\(key) must be a string", field: key)
        }
    }

    static func bool(_ members: [String: JSONValue], _ key: String) throws -> Bool? {
        switch members[key] {
        case nil, .null?: return nil
        case .bool(let flag)?: return flag
        default: throw BatonError.invalidArgument("\(key) must be a boolean", field: key)
        }
    }

    static func stringArray(_ members: [String: JSONValue], _ key: String) throws -> [String]? {
        switch members[key] {
        case nil, .null?: return nil
        case .array(let items)?:
            return try items.enumerated().map { index, item in
                guard case .string(let text) = item else {
                    throw BatonError.invalidArgument("\(key)[\(index)] must be a string", field: "\(key)[\(index)]")
                }
                return text
            }
        default: throw BatonError.invalidArgument("\(key) must be an array of strings", field: key)
        }
    }
}
