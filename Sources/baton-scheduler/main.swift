import ArgumentParser
import BatonConfig
import BatonCore
import BatonRuntime
import BatonScheduler
import BatonStore
import Logging
import ServiceLifecycle

/// `baton-scheduler`: consumes the bus, applies transitions, reaps leases, promotes retries.
@main
struct SchedulerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baton-scheduler",
        abstract: "Apply task transitions, release ready work and reclaim lost leases.")

    @OptionGroup var connection: ConnectionOptions

    @OptionGroup var metrics: MetricsOptions

    func run() async throws {
        Runtime.bootstrapLogging()
        ProcessMetrics.bootstrap()
        let metricsPort = try metrics.resolvedPort()
        let config = try connection.loadConfig()
        let logger = Logger(label: "baton.scheduler")
        // Commands give up on an unreachable Redis after 2 s (the loops retry): a SIGTERM is never
        // kept waiting behind a 10 s reconnect.
        let store = try Runtime.makeStore(config, clientName: "baton-scheduler", failFast: .seconds(2))
        try await RedisSettingsCheck.run(store, config: config, logger: logger)
        var settings = SchedulerSettings(
            batchSize: config.scheduler.batchSize,
            blockMillis: config.scheduler.blockMillis,
            reaperIntervalMillis: config.scheduler.reaperIntervalMillis,
            reclaimIdleMillis: config.scheduler.reclaimIdleMillis,
            consumerName: config.scheduler.consumerName ?? Runtime.processName("scheduler"))
        settings.submissionRules = SubmissionRules(
            validator: TreeValidator(knownExecutors: config.gateway.knownExecutorSet),
            executorPolicy: ExecutorPolicy(config.gateway.executorPolicy), maxBodyBytes: config.gateway.maxBodyBytes)
        settings.adminUsers = Set(config.gateway.apiKeys.filter(\.isAdmin).map(\.userID))
        settings.inflightRepairMillis = Int64(config.scheduler.inflightRepairMillis)
        settings.orphanSweepMillis = config.scheduler.orphanSweepMillis
        func rate(_ limit: RateLimitConfig?) -> RateLimit? {
            limit.map { RateLimit(tasks: $0.tasks, intervalSeconds: $0.intervalSeconds, burst: $0.burst) }
        }
        settings.admission = config.executors.filter(\.value.hasLimits).mapValues {
            QueueAdmission(
                maxRunning: $0.maxRunning, maxRunningPerKey: $0.maxRunningPerKey,
                rateLimit: rate($0.rateLimit), rateLimitPerKey: rate($0.rateLimitPerKey))
        }
        settings.fairnessWeights = config.fairness.weights
        logger.info("scheduler starting", metadata: ["baton.redis": "\(config.redisURL)", "baton.namespace": "\(config.namespace)"])
        var services = Scheduler.services(store: store, settings: settings, logger: logger)
        if let metricsPort {
            services.append(MetricsEndpoint.make(
                host: metrics.resolvedHost(), port: metricsPort, store: store, serverName: "baton-scheduler", logger: logger))
        }
        let group = ServiceGroup(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        try await group.run()
    }
}
