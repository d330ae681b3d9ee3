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
        buffer.append(contentsOf: String(arguments.count).utf8)
        buffer.append(contentsOf: [13, 10])
        for argument in arguments {
            buffer.append(UInt8(ascii: "$"))
            buffer.append(contentsOf: String(argument.count).utf8)
            buffer.append(contentsOf: [13, 10])
            buffer.append(contentsOf: argument)
            buffer.append(contentsOf: [13, 10])
        }
    }

    public var description: String {
        arguments.prefix(4).map { String(decoding: $0.prefix(64), as: UTF8.self) }.joined(separator: " ")
            + (arguments.count > 4 ? " …" : "")
    }
}
