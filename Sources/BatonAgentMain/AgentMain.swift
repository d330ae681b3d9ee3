import ArgumentParser
// Re-exported so that an agent of your own needs one import: `Executor`, `JSONValue`,
// `ExecutionContext` and the built-ins come with this module.
@_exported import BatonAgent
@_exported import BatonCore
import BatonRuntime
import Foundation
import Synchronization
import Logging
import ServiceLifecycle

/// Runs an agent process: your executors beside the built-in ones you choose, with the flags,
/// configuration and lifecycle of `baton-agent` (`--executor`, `--concurrency`, `--redis-url`,
/// `--config`, `--metrics-port`; `config/baton.yaml` and `BATON_*`; SIGTERM drains).
///
/// ```swift
/// import BatonAgentMain
///
/// @main struct MyAgent {
///     static func main() async { await AgentMain.run(executors: [Shout()], builtins: ["echo_executor"]) }
/// }
/// ```
public enum AgentMain {
    /// Parses the process's arguments and runs until SIGTERM or SIGINT; exits the process with
    /// ArgumentParser's conventions on a bad flag, a bad configuration or a refused Redis.
    /// - Parameters:
    ///   - executors: your executors (their names must not clash with each other or with `builtins`).
    ///   - builtins: names of built-in executors to run too (``BuiltinExecutors/names``).
    ///   - commandName: the name in `--help` and logs.
    public static func run(executors: [any Executor], builtins: [String] = BuiltinExecutors.names, commandName: String = "baton-agent") async {
        AgentProcess.custom.withLock { $0 = (executors, builtins, commandName) }
        await AgentProcess.main()
    }
}

/// The command behind ``AgentMain/run(executors:builtins:commandName:)`` and `baton-agent`.
struct AgentProcess: AsyncParsableCommand {
    /// What `run` was given; set once, before parsing.
    static let custom = Mutex<(executors: [any Executor], builtins: [String], name: String)>(([], BuiltinExecutors.names, "baton-agent"))

    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: custom.withLock { $0.name },
            abstract: "Claim and run tasks of the given executor types.")
    }

    @OptionGroup var connection: ConnectionOptions

    @OptionGroup var metrics: MetricsOptions

    @Option(name: .customLong("executor"), help: "Executor types to run, comma-separated (default: every one this agent has).")
    var executors: String?

    @Option(help: "Tasks run at once, 1 to 10000 (default: agent.concurrency of the configuration).")
    var concurrency: Int?

    func run() async throws {
        Runtime.bootstrapLogging()
        ProcessMetrics.bootstrap()
        let metricsPort = try metrics.resolvedPort()
        let config = try connection.loadConfig()
        let agent = config.agent
        let (own, builtinNames, commandName) = Self.custom.withLock { $0 }
        let logger = Logger(label: "baton.agent")
        if let unknown = builtinNames.first(where: { !BuiltinExecutors.names.contains($0) }) {
            throw ValidationError("no built-in executor named '\(unknown)'; built-in: \(BuiltinExecutors.names.joined(separator: ", "))")
        }
        let available = own.map(\.name) + builtinNames
        if let clash = Dictionary(grouping: available, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
            throw ValidationError("two executors are named '\(clash)'")
        }
        var types: [String] = []
        for name in executors.map({ $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }) ?? available
        where !name.isEmpty && !types.contains(name) {
            types.append(name)
        }
        if types.isEmpty { throw ValidationError("--executor: name at least one executor type") }
        if let unknown = types.first(where: { !available.contains($0) }) {
            throw ValidationError("--executor: no executor named '\(unknown)'; this agent has: \(available.joined(separator: ", "))")
        }
        if let concurrency, !(1...10_000).contains(concurrency) {
            throw ValidationError("--concurrency must be between 1 and 10000 (got \(concurrency))")
        }
        // The allowlist is resolved only where it is used; the other command keys are checked always.
        let command = try CommandPolicy(
            allowlist: types.contains("command_executor") ? agent.commandAllowlist : [],
            environmentAllow: agent.commandEnvAllow, workingDirectory: agent.commandCwd)
        // Commands give up on an unreachable Redis after 2 s (the loops retry): a SIGTERM is never
        // kept waiting behind a 10 s reconnect.
        let store = try Runtime.makeStore(config, clientName: commandName, failFast: .seconds(2))
        try await RedisSettingsCheck.run(store, config: config, logger: logger)
        let rest = RestExecutor(
            policy: try await RestPolicy.make(allow: agent.restAllow, protectingRedis: store.redis.configuration),
            defaultTimeout: agent.restTimeoutSeconds, maxResponseBytes: agent.restMaxResponseBytes)
        let builtins = BuiltinExecutors.all(command: command, rest: rest).filter { builtinNames.contains($0.name) }
        let registry = ExecutorRegistry(own + builtins)
        let settings = AgentSettings(
            executorTypes: types,
            concurrency: concurrency ?? agent.concurrency,
            leaseMillis: agent.leaseMillis,
            heartbeatMillis: agent.heartbeatIntervalMillis,
            shutdownGraceMillis: agent.shutdownGraceMillis,
            maxResultBytes: agent.maxResultBytes,
            appliesReports: agent.applyReports)
        logger.info("agent starting", metadata: ["baton.executors": "\(types.joined(separator: ","))",
                                                 "baton.concurrency": "\(settings.concurrency)"])
        var services: [any Service] = [Agent(store: store, registry: registry, settings: settings, logger: logger)]
        if let metricsPort {
            services.append(MetricsEndpoint.make(
                host: metrics.resolvedHost(), port: metricsPort, store: store, serverName: commandName, logger: logger))
        }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}
