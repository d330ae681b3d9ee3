/// Which users may submit tasks of which executor types (SPEC "Executors are a privilege";
/// configuration `gateway.executor_policy`).
///
/// The policy maps a subject to the executor types it may use. Subjects: a user id, `admin`
/// (every user with the admin role) and `*` (every user, and Redis-native submissions without a
/// `user_id`). A caller may use an executor type when any entry that applies to it allows it —
/// its own user id, `admin` when it is an admin, and `*`. In a list, `*` means every executor
/// type, except that the privileged types (``privilegedExecutors``: `command_executor` and
/// `rest_executor`, which reach the agents' host and network) are matched by `*` only in the
/// `admin` entry; anyone else gets them only when they are named.
///
/// The default, `{"*": ["*"], "admin": ["*"]}`, lets everyone use every executor type but the
/// privileged ones, which are for admins only. (A user whose id is literally `admin` or `*`
/// cannot have an entry of its own: those names are the subjects above.)
public struct ExecutorPolicy: Sendable, Hashable {
    /// The executor types that `*` grants only to admins.
    public static let privilegedExecutors: Set<String> = ["command_executor", "rest_executor"]

    /// The subject of every caller.
    public static let everyone = "*"
    /// The subject of admins.
    public static let admins = "admin"

    /// Subject → allowed executor types (or `*`).
    public let rules: [String: Set<String>]

    /// The default policy: every executor type for everyone, the privileged ones for admins only.
    public static let `default` = ExecutorPolicy(rules: [everyone: ["*"], admins: ["*"]])

    /// Creates a policy from its rules.
    public init(rules: [String: Set<String>]) {
        self.rules = rules
    }

    /// Creates a policy from its configuration form (subject → list of executor types).
    public init(_ rules: [String: [String]]) {
        self.init(rules: rules.mapValues(Set.init))
    }

    /// Whether a caller may submit tasks of `executor`.
    /// - Parameters:
    ///   - userID: the caller (`nil` for a Redis-native submission without `user_id`).
    ///   - isAdmin: whether the caller has the admin role.
    public func allows(_ executor: String, userID: String?, isAdmin: Bool) -> Bool {
        let privileged = Self.privilegedExecutors.contains(executor)
        func grants(_ subject: String, starCoversPrivileged: Bool) -> Bool {
            guard let allowed = rules[subject] else { return false }
            return allowed.contains(executor) || (allowed.contains("*") && (!privileged || starCoversPrivileged))
        }
        if grants(Self.everyone, starCoversPrivileged: false) { return true }
        if let userID, grants(userID, starCoversPrivileged: false) { return true }
        return isAdmin && grants(Self.admins, starCoversPrivileged: true)
    }

    /// Refuses the first task whose executor type the caller may not use, naming the task and
    /// the executor (`forbidden`, field `tasks[i].executor`).
    public func check(_ items: [TaskSubmission], userID: String?, isAdmin: Bool) throws(BatonError) {
        for (position, item) in items.enumerated() {
            guard let (executor, source) = item.executorSource else { continue }
            if !allows(executor, userID: userID, isAdmin: isAdmin) {
                let task = item.name ?? item.id ?? "#\(position)"
                throw BatonError(
                    code: .forbidden,
                    message: "Task '\(task)' may not use executor '\(executor)': the deployment's executor policy does not allow it for this user",
                    field: "tasks[\(position)].\(source)")
            }
        }
    }
}
