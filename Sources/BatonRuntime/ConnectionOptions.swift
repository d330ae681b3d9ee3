import ArgumentParser
import BatonConfig
import BatonStore
import Foundation
import Logging
import RedisClient

/// Options every Baton executable takes: where Redis is and which configuration file to read.
public struct ConnectionOptions: ParsableArguments {
    @Option(name: .customLong("redis-url"), help: "Redis URL (default: config file or BATON_REDIS_URL).")
    public var redisURL: String?

    @Option(name: .customLong("config"), help: "Configuration file (default: BATON_CONFIG or config/baton.yaml).")
    public var configPath: String?

    public init() {}

    /// The configuration with `--redis-url` applied on top.
    public func loadConfig() throws -> BatonConfig {
        var config = try BatonConfig.load(path: configPath)
        let logger = Logger(label: "baton.config")
        for warning in BatonConfig.unknownVariableWarnings(ProcessInfo.processInfo.environment) {
            logger.warning("\(warning)")
        }
        if let redisURL { config.redisURL = redisURL }
        return config
    }
}

/// Building blocks shared by the executables.
public enum Runtime {
    /// Sends swift-log output to stderr (stdout stays for machine-readable output), once per process.
    public static func bootstrapLogging(level: Logger.Level? = nil) {
        let level = level
            ?? ProcessInfo.processInfo.environment["BATON_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
            ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

    /// A store on the configured Redis and namespace.
    ///
    /// - Parameter failFast: how long a command may wait for an unreachable Redis before it fails
    ///   (connect and reconnect attempts), for callers that answer people — the gateway and the
    ///   CLI; `nil` keeps the client's patient defaults for the services that retry on their own.
    public static func makeStore(
        _ config: BatonConfig, clientName: String, poolSize: Int = 2, failFast: Duration? = nil
    ) throws -> BatonStore {
        var redis = try RedisConfiguration(url: config.redisURL)
        redis.clientName = clientName
        if let failFast {
            redis.connectTimeout = min(redis.connectTimeout, failFast)
            redis.reconnectTimeout = failFast
        }
        return BatonStore(
            redis: RedisClient(configuration: redis, poolSize: poolSize),
            keys: Keys(namespace: config.namespace, busShards: config.bus.shards, queueShards: config.queueShards),
            eventsMaxLength: config.scheduler.eventsMaxLength,
            retentionMillis: Int64(config.retention.finishedSeconds) * 1000,
            maxTasksPerTree: config.limits.maxTasksPerTree, maxTasksPerRead: config.limits.maxTasksPerRead)
    }

    /// A name unique to this process, for consumer groups and logs.
    public static func processName(_ role: String) -> String {
        let host = ProcessInfo.processInfo.hostName
        return "\(role)-\(host)-\(ProcessInfo.processInfo.processIdentifier)"
    }
}
