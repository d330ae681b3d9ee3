import ArgumentParser
import BatonConfig
import BatonCore
import BatonRuntime
import BatonStore
import Foundation
import RedisClient

/// Redis did not answer the CLI (ArgumentParser prints it as `Error: cannot reach Redis at …`).
struct UnreachableRedis: Error, CustomStringConvertible {
    let description: String
}

/// Options of the client commands: where Redis is and whom to act as.
struct ClientOptions: ParsableArguments {
    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Act as this user (default: BATON_USER or dev).")
    var user: String?

    var userID: String { user ?? ProcessInfo.processInfo.environment["BATON_USER"] ?? "dev" }

    /// The submission rules of the configuration (`gateway.known_executors`).
    func validator() throws -> TreeValidator {
        TreeValidator(knownExecutors: try BatonConfig.load(path: connection.configPath).gateway.knownExecutorSet)
    }

    /// A store whose Redis answered: a person waiting at a terminal learns within ~2 s that
    /// Redis is unreachable, with its URL, instead of after the services' 10 s of retries.
    func store() async throws -> BatonStore {
        let config = try connection.loadConfig()
        let store = try Runtime.makeStore(config, clientName: "baton-cli", failFast: .seconds(1))
        do {
            try await store.ping(timeout: .milliseconds(1500))
        } catch {
            throw UnreachableRedis(description: "cannot reach Redis at \(config.redisURL): \(error)")
        }
        return store
    }
}

struct Submit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Submit a task tree from a JSON or YAML file; prints its tree id.")

    @OptionGroup var options: ClientOptions

    @Argument(help: "A JSON or YAML file with an array of tasks (or {\"tasks\": [...]}).")
    var file: String

    @Flag(help: "Wait until the tree finishes and print it as JSON. \(TreeOutcome.help)")
    var wait = false

    @Flag(help: "After submitting, show the tree live (as baton watch). \(TreeOutcome.help)")
    var watch = false

    @Option(help: "With --wait or --watch: stop waiting after this many seconds (exit 4).")
    var timeout: Double?

    @Flag(help: "Store the tree without running it.")
    var noExecute = false

    @Option(help: ArgumentHelp("Store the tree now and start it at this RFC 3339 time (the schedulers start it), e.g. 2026-12-02T03:00:00Z.", valueName: "TIME"))
    var runAt: String?

    func run() async throws {
        let limit = try TreeOutcome.timeout(timeout)
        let runAtMillis = try runAt.map { (text) throws(BatonError) in try SubmissionRules.runAt(text) }
        if runAtMillis != nil && noExecute { throw ValidationError("--run-at starts the tree at that time: leave out --no-execute") }
        let store = try await options.store()
        let items = try TreeFile.load(file)
        let result = try await store.submit(
            items, userID: options.userID, execute: !noExecute, validator: try options.validator(), runAtMillis: runAtMillis)
        for warning in try await store.unservedExecutorWarnings(TaskSubmission.executorFields(items)) {
            FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
        }
        if watch {
            FileHandle.standardError.write(Data("submitted tree \(result.treeID)\n".utf8))
            try await Watch.watch(result.treeID, store: store, userID: options.userID, timeout: limit)
            return
        }
        guard wait else {
            print(result.treeID)
            return
        }
        FileHandle.standardError.write(Data("submitted tree \(result.treeID)\n".utf8))
        let names = Dictionary(uniqueKeysWithValues: try await store.tree(result.treeID, userID: options.userID).tasks.map { ($0.id, $0.name) })
        let follow = Task {
            try await TreeWatcher(store: store).follow(result.treeID) { event in
                FileHandle.standardError.write(Data((TreeWatcher.describe(event, names: names) + "\n").utf8))
            }
        }
        if let limit {
            let deadline = ContinuousClock.now + limit
            while !(try await store.treeRecord(result.treeID, userID: nil).isFinished) {
                if ContinuousClock.now >= deadline {
                    follow.cancel()
                    FileHandle.standardError.write(Data("tree \(result.treeID) did not finish within \(timeout ?? 0) s\n".utf8))
                    throw ExitCode(TreeOutcome.timedOut)
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        try await follow.value
        let tree = try await store.tree(result.treeID, userID: options.userID)
        print(tree.nestedJSON.jsonString())
        if let exit = TreeOutcome.exitCode(forStatus: tree.tree.status) { throw exit }
    }
}

struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a task as JSON.")

    @OptionGroup var options: ClientOptions

    @Argument(help: "The task id.")
    var taskID: String

    func run() async throws {
        print(try await options.store().task(taskID, userID: options.userID).jsonValue.jsonString())
    }
}

struct TreeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tree", abstract: "Print a tree with its tasks as JSON.")

    @OptionGroup var options: ClientOptions

    @Argument(help: "The tree id (the id of its root task).")
    var treeID: String

    @Flag(help: "List the tasks flat instead of nested by parent.")
    var flat = false

    func run() async throws {
        let snapshot = try await options.store().tree(treeID, userID: options.userID)
        print((flat ? snapshot.flatJSON : snapshot.nestedJSON).jsonString())
    }
}
