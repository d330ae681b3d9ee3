import ArgumentParser
import BatonConfig
import BatonRuntime
import BatonStore
import Foundation
import UnixSignals

/// `baton dev`: a local Redis plus a scheduler and agents for every built-in executor, an example
/// tree running to the end on screen, and everything stopped on Ctrl-C.
struct Dev: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start Redis, a scheduler, agents and the gateway locally, run an example tree, keep running until Ctrl-C.")

    static let defaultExample = "examples/quickstart.json"

    @Option(help: "The tree to run first (JSON or YAML).")
    var example = Dev.defaultExample

    @Flag(help: "Start the services but run no example.")
    var noExample = false

    @Option(help: "Use this Redis instead of starting one (a comma-separated list of seeds for a cluster).")
    var redisURL: String?

    @Option(help: ArgumentHelp("Start a local Redis Cluster of N masters instead of one Redis.", valueName: "N"))
    var cluster: Int?

    @Flag(help: "Run the example, print the final tree and stop everything (for scripts and CI).")
    var once = false

    func run() async throws {
        Runtime.bootstrapLogging(level: .warning)
        let bin = ChildProcess.binaryDirectory
        let workDir = NSTemporaryDirectory() + "baton-dev-\(ProcessInfo.processInfo.processIdentifier)"
        try FileManager.default.createDirectory(atPath: workDir, withIntermediateDirectories: true)

        if let cluster, cluster < 3 { throw ValidationError("--cluster needs at least 3 masters") }
        if cluster != nil && redisURL != nil { throw ValidationError("--cluster starts its own Redis: leave out --redis-url") }
        let redis: LocalRedis? = redisURL == nil && cluster == nil ? try await LocalRedis(directory: workDir + "/redis") : nil
        var redisCluster: LocalRedisCluster?
        if let cluster { redisCluster = try await LocalRedisCluster(masters: cluster, directory: workDir + "/cluster") }
        let url = redisURL ?? redisCluster?.url ?? redis!.url
        var config = try BatonConfig.load()
        config.redisURL = url
        let environment = ["BATON_REDIS_URL": url, "BATON_NAMESPACE": config.namespace]

        var children: [ChildProcess] = []
        func start(_ name: String, _ arguments: [String] = []) throws {
            children.append(try ChildProcess(
                name: name, executable: "\(bin)/\(name)", arguments: arguments,
                environment: environment, logPath: "\(workDir)/\(name).log"))
        }
        try start("baton-scheduler")
        try start("baton-agent")
        let gatewayPort = ChildProcess.freePort()
        try start("baton-gateway", ["--host", "127.0.0.1", "--port", String(gatewayPort)])
        let gatewayURL = "http://127.0.0.1:\(gatewayPort)"
        let apiKey = config.gateway.apiKeys.first?.key ?? "dev-key"
        say("Baton is running locally")
        say("  redis      \(url)\(cluster.map { " (a cluster of \($0) masters)" } ?? "")")
        say("  scheduler  log: \(workDir)/baton-scheduler.log")
        say("  agent      every built-in executor, log: \(workDir)/baton-agent.log")
        say("  gateway    \(gatewayURL)  API key: \(apiKey)  (OpenAPI: \(gatewayURL)/openapi.json), log: \(workDir)/baton-gateway.log")
        say("             try: curl -H 'Authorization: Bearer \(apiKey)' \(gatewayURL)/v1/tasks")

        do {
            if !noExample { try await runExample(config) }
            if !once {
                say("\nPress Ctrl-C to stop. Try: \(bin)/baton submit \(example) --wait --redis-url \(url)")
                for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm) { break }
            }
        } catch {
            say("error: \(error)")
        }
        say("\nstopping…")
        for child in children.reversed() { await child.stop() }
        await redis?.stop()
        await redisCluster?.stop()
        say("logs kept in \(workDir)")
    }

    private func runExample(_ config: BatonConfig) async throws {
        let store = try Runtime.makeStore(config, clientName: "baton-dev")
        let result = try await store.submit(try TreeFile.load(example), userID: "dev")
        say("\nsubmitted \(example) as tree \(result.treeID) (\(result.taskIDs.count) tasks)\n")
        let names = Dictionary(uniqueKeysWithValues: try await store.tree(result.treeID, userID: "dev").tasks.map { ($0.id, $0.name) })
        try await TreeWatcher(store: store).follow(result.treeID) { say("  " + TreeWatcher.describe($0, names: names)) }
        let tree = try await store.tree(result.treeID, userID: "dev")
        say("\ntree \(tree.tree.id) finished: \(tree.tree.status), counts \(tree.tree.counts.filter { $0.value > 0 })")
        for task in tree.tasks {
            let outcome = task.error.map { "error: \($0)" } ?? task.result.map { String($0.jsonString().prefix(90)) } ?? ""
            say("  \(task.status.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) \(task.name.padding(toLength: 22, withPad: " ", startingAt: 0)) \(outcome)")
        }
        if example == Self.defaultExample, tree.tree.status == "failed" {
            say("\n(The example fails on purpose: 'primary' fails, and 'fallback', which depends on it optionally, runs anyway.)")
        }
        if once { FileHandle.standardOutput.write(Data((tree.nestedJSON.jsonString() + "\n").utf8)) }
    }

    private func say(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
