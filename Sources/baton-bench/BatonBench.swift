import ArgumentParser
import BatonRuntime
import Foundation

/// `baton-bench WORKLOAD... [--redis-url URL]`: runs each workload in turn and prints one JSON
/// object per workload on its own line (stdout); progress goes to stderr.
struct BatonBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baton-bench",
        abstract: "Measures Baton on a real Redis and prints one JSON line per workload.",
        discussion: """
            Workloads: \(Workloads.all.map { "\($0.name) (\($0.summary))" }.joined(separator: "; ")).
            Without --redis-url or BATON_REDIS_URL a throwaway redis-server is started on a free \
            port and stopped at the end.
            """
    )

    @Argument(help: ArgumentHelp("Workloads to run.", valueName: "workload"))
    var workloads: [String]

    @Option(help: "Redis to measure against (default: BATON_REDIS_URL, else a throwaway redis-server).")
    var redisURL: String?

    @Option(help: "Rounds per measurement; the median round is reported.")
    var rounds: Int = 3

    @Option(help: ArgumentHelp("Start a throwaway Redis Cluster of N masters instead of one redis-server; engine workloads then report per-master Redis CPU and the spread of work and keys.", valueName: "N"))
    var cluster: Int?

    @Option(help: ArgumentHelp("Spread each executor type the engine workloads run over K queue shards (executors.<type>.queue_shards).", valueName: "K"))
    var queueShards: Int = 1

    @Option(help: ArgumentHelp("Agent processes of the engine workloads (default: each workload's own, 1 or 2).", valueName: "N"))
    var agents: Int?

    @Option(help: ArgumentHelp("Concurrency of each agent of the engine workloads (default: each workload's own, 8 or 64).", valueName: "C"))
    var concurrency: Int?

    @Option(help: ArgumentHelp("Scheduler processes of the engine workloads (default: 1; 0: the agents alone, applying their own reports, for the chain and latency figures without the replay).", valueName: "N"))
    var schedulers: Int?

    @Option(help: ArgumentHelp("Tasks of the bigtree workload (default: 100,000).", valueName: "N"))
    var tasks: Int?

    @Flag(help: "throughput: publish a per-key limit (max_running_per_key 8 over 100 concurrency keys) and fairness weights (5 users, 3:2:1:1:1) before the run, its tasks carrying those keys and users; compare with the plain run.")
    var admission = false

    /// The entry point. (From main.swift's top-level code, `main()` would resolve to the
    /// synchronous `ParsableCommand.main()`, which refuses an async command.)
    static func start() async {
        await main(nil)
    }

    func validate() throws {
        let known = Set(Workloads.all.map(\.name))
        for name in workloads where !known.contains(name) {
            throw ValidationError("unknown workload '\(name)'; known: \(known.sorted().joined(separator: ", "))")
        }
        if rounds < 1 { throw ValidationError("--rounds must be at least 1") }
        if !(1...256).contains(queueShards) { throw ValidationError("--queue-shards must be between 1 and 256") }
        for (flag, value, range) in [("--agents", agents, 1...64), ("--concurrency", concurrency, 1...4096),
                                     ("--schedulers", schedulers, 0...16), ("--tasks", tasks, 4...10_000_000)] {
            if let value, !range.contains(value) {
                throw ValidationError("\(flag) must be between \(range.lowerBound) and \(range.upperBound)")
            }
        }
        if let cluster, cluster < 3 { throw ValidationError("--cluster needs at least 3 masters") }
        if cluster != nil, redisURL != nil { throw ValidationError("--cluster starts its own cluster: leave out --redis-url") }
    }

    func run() async throws {
        var throwaway: LocalRedis?
        var throwawayCluster: LocalRedisCluster?
        let url: String
        if let cluster {
            let started = try await LocalRedisCluster(masters: cluster)
            BenchLog.info("started a throwaway Redis Cluster of \(cluster) masters at \(started.url)")
            throwawayCluster = started
            url = started.url
        } else if let given = redisURL ?? ProcessInfo.processInfo.environment["BATON_REDIS_URL"], !given.isEmpty {
            throwaway = nil
            url = given
        } else {
            let started = try await LocalRedis()
            BenchLog.info("started a throwaway redis-server at \(started.url)")
            throwaway = started
            url = started.url
        }

        var context = BenchContext(redisURL: url, rounds: rounds)
        context.queueShards = queueShards
        context.agents = agents
        context.concurrency = concurrency
        context.schedulers = schedulers
        context.tasks = tasks
        context.admission = admission
        for name in workloads {
            guard let workload = Workloads.all.first(where: { $0.name == name }) else { continue }
            BenchLog.info("running \(name)")
            do {
                BenchReport.emit(try await workload.run(context))
            } catch {
                await throwaway?.stop()
                await throwawayCluster?.stop()
                throw error
            }
        }
        await throwaway?.stop()
        await throwawayCluster?.stop()
    }
}
