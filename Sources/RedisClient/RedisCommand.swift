/// One Redis command as binary-safe arguments, e.g. `RedisCommand("HSET", key, "field", value)`.
public struct RedisCommand: Sendable, Hashable, ExpressibleByArrayLiteral, CustomStringConvertible {
    /// The arguments, the command name first.
    public private(set) var arguments: [[UInt8]]

    /// A command from text arguments.
    public init(_ arguments: [String]) {
        self.arguments = arguments.map { Array($0.utf8) }
    }

    /// A command from text arguments.
    public init(_ arguments: String...) {
        self.init(arguments)
    }

    /// A command from raw byte arguments.
    public init(bytes arguments: [[UInt8]]) {
        self.arguments = arguments
    }

    public init(arrayLiteral elements: String...) {
        self.init(elements)
    }

    /// Appends a text argument.
    public mutating func append(_ argument: String) {
        arguments.append(Array(argument.utf8))
    }

    /// Appends text arguments.
    public mutating func append<S: Sequence>(contentsOf more: S) where S.Element == String {
        for argument in more { append(argument) }
    }

    /// Appends a binary argument.
    public mutating func append(bytes: [UInt8]) {
        arguments.append(bytes)
    }

    /// Appends an integer argument.
    public mutating func append(_ value: Int) {
        append(String(value))
    }

    /// The command name, upper-cased.
    public var name: String {
        arguments.first.map { String(decoding: $0, as: UTF8.self).uppercased() } ?? ""
    }

    /// The command in RESP wire format, ready for `redisAppendFormattedCommand`.
    func encoded(into buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "*"))
        Self.appendDecimal(arguments.count, to: &buffer)
        // Borrowed through buffer pointers: iterating `arguments` directly would retain and
        // release every argument, a measurable cost on the connection thread.
        arguments.withUnsafeBufferPointer { arguments in
            for index in arguments.indices {
                arguments[index].withUnsafeBufferPointer { bytes in
                    buffer.append(UInt8(ascii: "$"))
                    Self.appendDecimal(bytes.count, to: &buffer)
                    buffer.append(contentsOf: bytes)
                    buffer.append(13)
                    buffer.append(10)
                }
            }
        }
    }

    /// Appends `value` (non-negative) in decimal and a CRLF, without building a String.
    private static func appendDecimal(_ value: Int, to buffer: inout [UInt8]) {
        var divisor = 1
        while divisor <= value / 10 { divisor *= 10 }
        while divisor > 0 {
            buffer.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value / divisor % 10))
            divisor /= 10
        }
        buffer.append(13)
        buffer.append(10)
    }

    public var description: String {
        arguments.prefix(4).map { String(decoding: $0.prefix(64), as: UTF8.self) }.joined(separator: " ")
            + (arguments.count > 4 ? " …" : "")
    }
}
