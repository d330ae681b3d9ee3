/// A reply from Redis (RESP2), decoded from hiredis into plain Swift values.
public enum RedisReply: Sendable, Hashable {
    /// A simple string such as `OK` or `QUEUED`.
    case status(String)
    /// An error reply such as `ERR unknown command`. Pipelines keep these in place;
    /// single commands throw them as ``RedisError/server(_:)``.
    case error(String)
    /// An integer reply.
    case integer(Int)
    /// A binary-safe bulk string.
    case bulk([UInt8])
    /// The nil reply (missing key, timed-out blocking pop).
    case null
    /// A multi-bulk reply.
    case array([RedisReply])
}

extension RedisReply {
    /// The reply as text: bulk strings (UTF-8), status strings and integers.
    public var string: String? {
        switch self {
        case .bulk(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .status(let text): return text
        case .integer(let value): return String(value)
        default: return nil
        }
    }

    /// The reply as an integer: integer replies and bulk strings that hold one.
    public var int: Int? {
        switch self {
        case .integer(let value): return value
        case .bulk, .status: return string.flatMap { Int($0) }
        default: return nil
        }
    }

    /// The reply as a floating-point number (for ZSCORE and friends).
    public var double: Double? {
        switch self {
        case .integer(let value): return Double(value)
        case .bulk, .status: return string.flatMap { Double($0) }
        default: return nil
        }
    }

    /// The raw bytes of a bulk or status reply.
    public var bytes: [UInt8]? {
        switch self {
        case .bulk(let bytes): return bytes
        case .status(let text): return Array(text.utf8)
        default: return nil
        }
    }

    /// The elements of an array reply; `nil` for every other kind.
    public var array: [RedisReply]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// True for the nil reply.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The message of an error reply.
    public var errorMessage: String? {
        if case .error(let message) = self { return message }
        return nil
    }

    /// An array reply of field/value pairs (HGETALL, XRANGE entries) as a dictionary of strings.
    public var stringDictionary: [String: String]? {
        guard let elements = array else { return nil }
        var result: [String: String] = [:]
        result.reserveCapacity(elements.count / 2)
        var index = elements.startIndex
        while index + 1 < elements.endIndex {
            if let key = elements[index].string { result[key] = elements[index + 1].string }
            index += 2
        }
        return result
    }

    /// Throws ``RedisError/server(_:)`` when this is an error reply, else returns the reply.
    @discardableResult
    public func throwingError() throws(RedisError) -> RedisReply {
        if case .error(let message) = self { throw RedisError.server(message) }
        return self
    }
}
