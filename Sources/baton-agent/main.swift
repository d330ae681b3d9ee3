import ArgumentParser
import BatonAgent
import BatonRuntime
import Logging
import ServiceLifecycle

/// `baton-agent --executor NAME[,NAME…] --concurrency N`: runs tasks of the given executor types.
@main
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baton-agent",
        abstract: "Claim and run tasks of the given executor types.")

    @OptionGroup var connection: ConnectionOptions

    @OptionGroup var metrics: MetricsOptions

    @Option(name: .customLong("executor"), help: "Executor types to run, comma-separated (default: every built-in).")
    var executors: String?

    @Option(help: "Tasks run at once, 1 to 10000 (default: agent.concurrency of the configuration).")
    var concurrency: Int?

    func run() async throws {
        Runtime.bootstrapLogging()
        ProcessMetrics.bootstrap()
        let metricsPort = try metrics.resolvedPort()
        let config = try connection.loadConfig()
        let agent = config.agent
        let logger = Logger(label: "baton.agent")
        var types: [String] = []
        for name in executors.map({ $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }) ?? BuiltinExecutors.names
        where !name.isEmpty && !types.contains(name) {
            types.append(name)
        }
        if types.isEmpty { throw ValidationError("--executor: name at least one executor type") }
        if let unknown = types.first(where: { !BuiltinExecutors.names.contains($0) }) {
            throw ValidationError("--executor: no executor named '\(unknown)'; known: \(BuiltinExecutors.names.joined(separator: ", "))")
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
        let store = try Runtime.makeStore(config, clientName: "baton-agent", failFast: .seconds(2))
        try await RedisSettingsCheck.run(store, config: config, logger: logger)
        let rest = RestExecutor(
            policy: try await RestPolicy.make(allow: agent.restAllow, protectingRedis: store.redis.configuration),
            defaultTimeout: agent.restTimeoutSeconds, maxResponseBytes: agent.restMaxResponseBytes)
        let registry = ExecutorRegistry(BuiltinExecutors.all(command: command, rest: rest))
        let settings = AgentSettings(
            executorTypes: types,
            concurrency: concurrency ?? agent.concurrency,
            leaseMillis: agent.leaseMillis,
            heartbeatMillis: agent.heartbeatIntervalMillis,
            shutdownGraceMillis: agent.shutdownGraceMillis,
            maxResultBytes: agent.maxResultBytes)
        logger.info("agent starting", metadata: ["baton.executors": "\(types.joined(separator: ","))",
                                                 "baton.concurrency": "\(settings.concurrency)"])
        var services: [any Service] = [Agent(store: store, registry: registry, settings: settings, logger: logger)]
        if let metricsPort {
            services.append(MetricsEndpoint.make(
                host: metrics.resolvedHost(), port: metricsPort, store: store, serverName: "baton-agent", logger: logger))
        }
        let group = ServiceGroup(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        try await group.run()
    }
}
