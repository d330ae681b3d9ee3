/// Where and how to connect: parsed from `redis://[user:password@]host:port/db` or `unix:///path?db=N`,
/// or from a comma-separated list of `redis://` URLs: the seeds of a Redis Cluster (any node of
/// it will do; credentials and database come from the first).
public struct RedisConfiguration: Sendable, Hashable {
    /// A TCP endpoint or a Unix socket path.
    public enum Endpoint: Sendable, Hashable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    public var endpoint: Endpoint
    /// Every endpoint the URL listed, ``endpoint`` first. A client tries them in turn to find out
    /// whether Redis runs as a cluster and to load the cluster's map.
    public var seeds: [Endpoint] = []
    public var username: String?
    public var password: String?
    public var database: Int
    /// Time allowed to establish a connection.
    public var connectTimeout: Duration
    /// Time allowed for a reply to an ordinary command (blocking commands pass their own).
    public var commandTimeout: Duration
    /// How long a command waits for Redis to come back before failing with a connection error.
    public var reconnectTimeout: Duration
    /// Name shown by `CLIENT LIST`.
    public var clientName: String?
    /// A connection idle at least this long is checked for a close by the server (a restart,
    /// a failover) before it is used again, so the command goes to a fresh connection instead
    /// of being lost; `nil` never checks.
    public var idleCheck: Duration? = .milliseconds(500)

    public init(
        endpoint: Endpoint = .tcp(host: "127.0.0.1", port: 6379),
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        connectTimeout: Duration = .seconds(2),
        commandTimeout: Duration = .seconds(30),
        reconnectTimeout: Duration = .seconds(10),
        clientName: String? = nil
    ) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.reconnectTimeout = reconnectTimeout
        self.clientName = clientName
        self.seeds = [endpoint]
    }

    /// Parses a Redis URL: `redis://[[user]:password@]host[:port][/db]` or `unix:///path/to/socket[?db=N]`;
    /// or several `redis://` URLs separated by commas (a cluster's seeds).
    public init(url: String) throws(RedisError) {
        let parts = url.split(separator: ",", omittingEmptySubsequences: false).map { String($0.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()) }
        if parts.count > 1 {
            if parts.contains(where: \.isEmpty) { throw .invalidConfiguration("\(url) has an empty entry in its list of seeds") }
            try self.init(url: parts[0])
            var seeds: [Endpoint] = []
            for part in parts {
                let seed = try RedisConfiguration(url: part)
                guard case .tcp = seed.endpoint else {
                    throw .invalidConfiguration("cluster seed \(part) must be a redis:// URL")
                }
                seeds.append(seed.endpoint)
            }
            self.seeds = seeds
            return
        }
        self.init()
        defer { seeds = [endpoint] }
        if url.hasPrefix("unix://") {
            var rest = String(url.dropFirst("unix://".count))
            if let query = rest.firstIndex(of: "?") {
                let parameters = rest[rest.index(after: query)...]
                rest = String(rest[..<query])
                for pair in parameters.split(separator: "&") {
                    let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                    if parts.count == 2, parts[0] == "db" {
                        guard let db = Int(parts[1]), db >= 0 else {
                            throw .invalidConfiguration("database in \(url) must be a non-negative integer")
                        }
                        database = db
                    }
                }
            }
            guard rest.hasPrefix("/") else { throw .invalidConfiguration("unix socket path in \(url) must be absolute") }
            endpoint = .unix(path: rest)
            return
        }
        guard url.hasPrefix("redis://") else {
            throw .invalidConfiguration("URL \(url) must start with redis:// or unix://")
        }
        var rest = Substring(url.dropFirst("redis://".count))
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let user = String(credentials[..<colon])
                username = user.isEmpty ? nil : user.removingPercentEncoding
                password = String(credentials[credentials.index(after: colon)...]).removingPercentEncoding
            } else if !credentials.isEmpty {
                password = String(credentials).removingPercentEncoding
            }
        }
        var hostPort = rest
        if let slash = rest.firstIndex(of: "/") {
            hostPort = rest[..<slash]
            let dbText = rest[rest.index(after: slash)...]
            if !dbText.isEmpty {
                guard let db = Int(dbText), db >= 0 else {
                    throw .invalidConfiguration("database in \(url) must be a non-negative integer")
                }
                database = db
            }
        }
        var host = String(hostPort)
        var port = 6379
        if hostPort.hasPrefix("["), let close = hostPort.firstIndex(of: "]") {
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let value = Int(after.dropFirst()), (1...65535).contains(value) else {
                    throw .invalidConfiguration("port in \(url) must be a number between 1 and 65535")
                }
                port = value
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = String(hostPort[..<colon])
            guard let value = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(value) else {
                throw .invalidConfiguration("port in \(url) must be a number between 1 and 65535")
            }
            port = value
        }
        if host.isEmpty { host = "127.0.0.1" }
        endpoint = .tcp(host: host, port: port)
    }
}

extension String {
    /// Minimal percent-decoding for URL credentials, without Foundation.
    fileprivate var removingPercentEncoding: String? {
        var bytes: [UInt8] = []
        var iterator = Array(utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            // A `%` not followed by two hex digits is kept as it is, with what follows it.
            let digits = [iterator.next(), iterator.next()].compactMap { $0 }
            if digits.count == 2, let value = UInt8(String(decoding: digits, as: UTF8.self), radix: 16) {
                bytes.append(value)
            } else {
                bytes.append(byte)
                bytes.append(contentsOf: digits)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
