/// Which arguments of a command are keys, as Redis Cluster routes it.
extension RedisCommand {
    /// Where a command's keys are.
    enum KeySpec {
        /// No key: any node can answer (`PING`, `INFO`, `SCRIPT`, `PUBLISH`).
        case none
        /// The argument at this index.
        case one(Int)
        /// Every argument from this index on.
        case allFrom(Int)
        /// Every argument from index 1 up to (not including) the last: blocking pops' timeout.
        case allButLast
        /// Every second argument from index 1 (`MSET key value …`).
        case everySecond
        /// `EVALSHA sha numkeys key…`: the count at index 2, the keys after it.
        case counted
        /// `XREAD … STREAMS key… id…`: the first half of what follows `STREAMS`.
        case streams
        /// Sharded pub/sub: the channels (from index 1) are routed like keys.
        case channels
    }

    static let keySpecs: [String: KeySpec] = {
        var specs: [String: KeySpec] = [:]
        let single = """
            GET SET SETNX SETEX PSETEX GETSET GETDEL GETEX INCR INCRBY INCRBYFLOAT DECR DECRBY APPEND STRLEN \
            EXPIRE PEXPIRE EXPIREAT PEXPIREAT EXPIRETIME PEXPIRETIME TTL PTTL PERSIST TYPE DUMP RESTORE \
            HSET HSETNX HGET HMGET HMSET HDEL HEXISTS HGETALL HKEYS HVALS HLEN HSTRLEN HINCRBY HINCRBYFLOAT HSCAN HRANDFIELD \
            ZADD ZREM ZSCORE ZMSCORE ZRANGE ZRANGEBYSCORE ZRANGEBYLEX ZREVRANGE ZREVRANGEBYSCORE ZRANK ZREVRANK \
            ZCARD ZCOUNT ZLEXCOUNT ZINCRBY ZREMRANGEBYSCORE ZREMRANGEBYRANK ZREMRANGEBYLEX ZPOPMIN ZPOPMAX ZSCAN ZRANDMEMBER \
            SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER SSCAN \
            LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LRANGE LLEN LREM LTRIM LINDEX LSET LPOS \
            XADD XLEN XRANGE XREVRANGE XDEL XTRIM XACK XCLAIM XAUTOCLAIM XPENDING XSETID
            """
        for name in single.split(separator: " ") { specs[String(name)] = .one(1) }
        for name in ["XGROUP", "XINFO", "OBJECT", "MEMORY"] { specs[name] = .one(2) }
        for name in ["DEL", "UNLINK", "EXISTS", "TOUCH", "MGET", "WATCH", "SINTER", "SUNION", "SDIFF", "RENAME", "RENAMENX"] {
            specs[name] = .allFrom(1)
        }
        for name in ["BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX"] { specs[name] = .allButLast }
        for name in ["MSET", "MSETNX"] { specs[name] = .everySecond }
        for name in ["EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"] { specs[name] = .counted }
        for name in ["XREAD", "XREADGROUP"] { specs[name] = .streams }
        specs["SPUBLISH"] = .one(1)  // SPUBLISH channel message
        for name in ["SSUBSCRIBE", "SUNSUBSCRIBE"] { specs[name] = .channels }
        return specs
    }()

    /// The keys of this command (for sharded pub/sub, its channels), as Redis Cluster routes it;
    /// empty for a command that names none. A command this table does not know counts as keyless:
    /// it goes to any node, which redirects it (`MOVED`) if it does name a key.
    public var keys: ArraySlice<[UInt8]> {
        let count = arguments.count
        switch Self.keySpecs[name] ?? .none {
        case .none:
            return []
        case .one(let index):
            // `XINFO HELP`, `MEMORY STATS`: a subcommand without a key.
            if index == 2, count > 1, ["HELP", "STATS", "DOCTOR", "MALLOC-STATS", "PURGE"].contains(argument(1).uppercased()) { return [] }
            return index < count ? arguments[index...index] : []
        case .allFrom(let index):
            return index < count ? arguments[index...] : []
        case .allButLast:
            return count > 2 ? arguments[1..<(count - 1)] : []
        case .everySecond:
            return ArraySlice(stride(from: 1, to: count, by: 2).map { arguments[$0] })
        case .counted:
            guard count > 2, let keyCount = Int(argument(2)), keyCount >= 0, 3 + keyCount <= count else { return [] }
            return arguments[3..<(3 + keyCount)]
        case .streams:
            guard let streams = arguments.firstIndex(where: { String(decoding: $0, as: UTF8.self).uppercased() == "STREAMS" })
            else { return [] }
            let rest = count - streams - 1
            return rest >= 2 ? arguments[(streams + 1)..<(streams + 1 + rest / 2)] : []
        case .channels:
            return count > 1 ? arguments[1...] : []
        }
    }

    /// The one slot every key of this command hashes to; `nil` for a command without keys.
    /// - Throws: ``RedisError/crossSlot(_:)`` when its keys hash to different slots — Redis
    ///   Cluster would refuse it, so it is refused before it is sent.
    public func slot() throws(RedisError) -> Int? {
        var slot: Int?
        for key in keys {
            let this = ClusterSlot.of(bytes: key)
            if let slot, slot != this {
                let names = keys.prefix(4).map { String(decoding: $0, as: UTF8.self) }.joined(separator: ", ")
                throw .crossSlot("\(name) names keys in different cluster slots (\(names)\(keys.count > 4 ? ", …" : ""))")
            }
            slot = this
        }
        return slot
    }

    private func argument(_ index: Int) -> String {
        String(decoding: arguments[index], as: UTF8.self)
    }
}
