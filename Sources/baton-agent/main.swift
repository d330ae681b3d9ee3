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

    @Option(name: .customLong("executor"), help: "Executor types to run, comma-separated (default: every built-in).")
    var executors: String?

    @Option(help: "Tasks run at once (default: agent.concurrency of the configuration).")
    var concurrency: Int?

    func run() async throws {
        Runtime.bootstrapLogging()
        let config = try connection.loadConfig()
        let logger = Logger(label: "baton.agent")
        let registry = ExecutorRegistry(BuiltinExecutors.all(commandAllowlist: Set(config.agent.commandAllowlist)))
        let types = executors.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? registry.names
        if let unknown = types.first(where: { registry[$0] == nil }) {
            throw ValidationError("--executor: no executor named '\(unknown)'; known: \(registry.names.joined(separator: ", "))")
        }
        let settings = AgentSettings(
            executorTypes: types,
            concurrency: concurrency ?? config.agent.concurrency,
            leaseMillis: config.agent.leaseMillis,
            heartbeatMillis: config.agent.heartbeatIntervalMillis,
            shutdownGraceMillis: config.agent.shutdownGraceMillis)
        let store = try Runtime.makeStore(config, clientName: "baton-agent")
        logger.info("agent starting", metadata: ["baton.executors": "\(types.joined(separator: ","))",
                                                 "baton.concurrency": "\(settings.concurrency)"])
        let group = ServiceGroup(
            services: [Agent(store: store, registry: registry, settings: settings, logger: logger)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        try await group.run()
    }
}
