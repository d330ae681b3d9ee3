/// A submitted task array that passed ``TreeValidator``: ready to be stored as one tree.
public struct ValidatedTree: Sendable, Hashable {
    /// The id of the first root in array order; every task's ``TaskRecord/treeID``.
    public var treeID: String
    /// The ids of every task without a parent, in array order (the first is ``treeID``).
    public var rootIDs: [String]
    /// The records in array order: ids generated where absent, parents and dependencies
    /// resolved to ids, `has_children` set, status `pending`, origin `create`, both timestamps set.
    public var tasks: [TaskRecord]
    /// Dependency ids that name no task of the array: tasks of other trees. The store must
    /// check that they exist and belong to the same user.
    public var externalDependencies: Set<String>

    /// Creates a validated tree.
    public init(treeID: String, rootIDs: [String], tasks: [TaskRecord], externalDependencies: Set<String>) {
        self.treeID = treeID
        self.rootIDs = rootIDs
        self.tasks = tasks
        self.externalDependencies = externalDependencies
    }
}
