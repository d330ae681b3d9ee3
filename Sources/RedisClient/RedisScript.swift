/// A Lua script run with EVALSHA. Its SHA1 is computed once, here; the script is loaded with
/// `SCRIPT LOAD` when Redis answers NOSCRIPT (first use, a restart, SCRIPT FLUSH) and run again.
public struct RedisScript: Sendable, Hashable {
    /// A short name for logs and errors.
    public let name: String
    /// The Lua source.
    public let source: String
    /// The SHA1 of the source, as Redis names it.
    public let sha: String

    public init(name: String, source: String) {
        self.name = name
        self.source = source
        self.sha = SHA1.hex(source)
    }
}

/// One invocation of a script: the keys it touches and its arguments.
public struct RedisScriptCall: Sendable, Hashable {
    public let script: RedisScript
    public let keys: [String]
    public let arguments: [String]

    public init(_ script: RedisScript, keys: [String], arguments: [String]) {
        self.script = script
        self.keys = keys
        self.arguments = arguments
    }

    func command(sha: String) -> RedisCommand {
        var command = RedisCommand("EVALSHA", sha, String(keys.count))
        command.append(contentsOf: keys)
        command.append(contentsOf: arguments)
        return command
    }
}
