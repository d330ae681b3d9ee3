import ArgumentParser
import BatonCore
import BatonStore
import Foundation

// Cancellation, re-execution and the key-space operations (copy, link, archive, mixed).
// Each prints its answer as JSON on stdout.

struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Cancel a task (pending: at once; running: its agent is signalled), or every task of a tree.")

    @OptionGroup var options: ClientOptions

    @Argument(help: "The task id (with --tree: the tree id).")
    var id: String

    @Flag(help: "Cancel every pending and running task of the tree ID.")
    var tree = false

    @Option(help: "The error message of the cancelled tasks (default: Cancellation requested).")
    var message: String?

    func run() async throws {
        let store = try await options.store()
        if tree {
            let outcomes = try await store.cancelTree(id, userID: options.userID, message: message)
            print(JSONValue.array(outcomes.map(\.jsonValue)).jsonString())
        } else {
            print(try await store.cancel(taskID: id, userID: options.userID, message: message).jsonValue.jsonString())
        }
    }
}

struct Reexecute: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-execute a failed or cancelled task and its unfinished dependents; prints the ids reset to pending.")

    @OptionGroup var options: ClientOptions

    @Argument(help: "The task id.")
    var taskID: String

    @Flag(help: "Allow re-executing a completed task.")
    var includeCompleted = false

    func run() async throws {
        let ids = try await options.store().reexecute(taskID: taskID, userID: options.userID, includeCompleted: includeCompleted)
        print(JSONValue.object(["task_ids": .array(ids.map(JSONValue.string))]).jsonString())
    }
}

/// `{"tree_id", "task_ids"}` of a new tree.
private func printNewTree(_ result: SubmitResult) {
    print(JSONValue.object([
        "tree_id": .string(result.treeID), "task_ids": .array(result.taskIDs.map(JSONValue.string)),
    ]).jsonString())
}

/// `--overrides '{"inputs": …}'`.
private func parseOverrides(_ text: String?) throws -> JSONValue? {
    guard let text else { return nil }
    do {
        return try JSONValue(parsing: text)
    } catch {
        throw BatonError.invalidArgument("--overrides is not JSON: \(error)", field: "overrides")
    }
}

struct Copy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a tree (or the subtree of --task with what it depends on) into a new pending tree.")

    @OptionGroup var options: ClientOptions

    @Argument(help: "The tree id.")
    var treeID: String

    @Option(help: "Copy the subtree of this task (with its upstream dependencies) instead of the whole tree.")
    var task: String?

    @Flag(help: "With --task: copy that task alone, without children or dependencies.")
    var single = false

    @Option(help: #"Overrides for every copied task, JSON: {"inputs": {…}, "params": {…}, "priority": 0, "name": "…"}."#)
    var overrides: String?

    @Flag(help: "Start running the copy at once.")
    var execute = false

    func run() async throws {
        let store = try await options.store()
        let result = try await store.copyTree(
            treeID, userID: options.userID, ownerID: options.userID, taskID: task, recursive: !single,
            overrides: try parseOverrides(overrides))
        if execute { try await store.startTree(result.treeID, userID: options.userID) }
        printNewTree(result)
    }
}

struct Link: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Link a fully completed tree: a new completed tree whose tasks read as the originals.")

    @OptionGroup var options: ClientOptions

    @Argument(help: "The tree id.")
    var treeID: String

    @Option(help: "Link the subtree of this task instead of the whole tree.")
    var task: String?

    func run() async throws {
        printNewTree(try await options.store().linkTree(treeID, userID: options.userID, ownerID: options.userID, taskID: task))
    }
}

struct Archive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Archive a fully completed tree in place: read-only from then on; prints the tree record.")

    @OptionGroup var options: ClientOptions

    @Argument(help: "The tree id.")
    var treeID: String

    func run() async throws {
        print(try await options.store().archiveTree(treeID, userID: options.userID).jsonValue.jsonString())
    }
}

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete a finished (or archived) tree with its tasks and events; --cancel stops a running one first.")

    @OptionGroup var options: ClientOptions

    @Argument(help: "The tree id.")
    var treeID: String

    @Flag(help: "Cancel the tree if it still runs, and delete it once its running tasks stopped.")
    var cancel = false

    func run() async throws {
        let deleted = try await options.store().delete(treeID, userID: options.userID, cancelRunning: cancel)
        print(JSONValue.object(["tree_id": .string(treeID), "deleted": .bool(deleted)]).jsonString())
    }
}

struct Mixed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a tree in which the --link tasks (completed) become links; the rest runs again when started.")

    @OptionGroup var options: ClientOptions

    @Argument(help: "The tree id.")
    var treeID: String

    @Option(name: .customLong("link"), parsing: .upToNextOption, help: "Ids of completed tasks to link instead of copying.")
    var links: [String] = []

    @Option(help: "Copy the subtree of this task (with its upstream dependencies) instead of the whole tree.")
    var task: String?

    @Option(help: "Overrides for every copied task, JSON (see copy).")
    var overrides: String?

    @Flag(help: "Start running the copied part at once.")
    var execute = false

    func run() async throws {
        let store = try await options.store()
        let result = try await store.mixedTree(
            treeID, userID: options.userID, ownerID: options.userID, taskID: task, linkTaskIDs: links,
            overrides: try parseOverrides(overrides))
        if execute { try await store.startTree(result.treeID, userID: options.userID) }
        printNewTree(result)
    }
}
