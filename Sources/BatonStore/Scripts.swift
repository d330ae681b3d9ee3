import Foundation
import RedisClient

/// The Lua scripts of `Lua/`, loaded from the module's resources. Tree-scoped scripts get
/// `include.lua` prepended, so each is one self-contained EVALSHA body.
public enum Scripts {
    /// Scripts whose keys are one tree's (`{t:<tree>}`).
    public static let submitTree = tree("submitTree")
    public static let startTree = tree("startTree")
    public static let startTasks = tree("startTasks")
    public static let applyReports = tree("applyReports")
    public static let resolveDependency = tree("resolveDependency")
    public static let addTask = tree("addTask")
    public static let cancelTasks = tree("cancelTasks")
    public static let reexecuteTask = tree("reexecuteTask")
    public static let archiveTree = tree("archiveTree")
    public static let deleteTree = tree("deleteTree")
    public static let watchDependency = plain("watchDependency")
    public static let markReferences = plain("markReferences")

    /// Scripts whose keys are one executor type's queue (`{q:<executor>}`).
    public static let enqueue = plain("enqueue")
    public static let claimQueue = plain("claimQueue")
    public static let promoteDelayed = plain("promoteDelayed")
    public static let requestCancel = plain("requestCancel")
    public static let reapLeases = plain("reapLeases")

    /// Scripts over one bucket of the task-id index (`{idx:<n>}`).
    public static let reserveIDs = plain("reserveIDs")
    public static let releaseIDs = plain("releaseIDs")

    private static func source(_ name: String) -> String {
        guard let url = Bundle.module.url(forResource: name, withExtension: "lua", subdirectory: "Lua"),
              let text = try? String(contentsOf: url, encoding: .utf8)
        else { fatalError("Lua script \(name).lua is missing from the BatonStore resources") }
        return text
    }

    private static func plain(_ name: String) -> RedisScript {
        RedisScript(name: name, source: source(name))
    }

    private static func tree(_ name: String) -> RedisScript {
        RedisScript(name: name, source: source("include") + "\n" + source(name))
    }
}
