/// The full record of one task, as stored and as clients see it (SPEC "Task record").
///
/// JSON keys are snake_case (`tree_id`, `parent_id`, …); absent optional values are written as
/// `null` so that every record has the same keys. Times are RFC 3339 UTC strings with
/// milliseconds (see ``Timestamp``).
public struct TaskRecord: Sendable, Hashable {
    /// The default ``priority``: 0 is urgent, 3 is low.
    public static let defaultPriority = 2
    /// The allowed priorities.
    public static let priorityRange = 0...3
    /// The default ``maxAttempts``.
    public static let defaultMaxAttempts = 1
    /// The allowed ``maxAttempts``.
    public static let maxAttemptsRange = 1...100
    /// The default ``maxLeaseLosses``.
    public static let defaultMaxLeaseLosses = 3
    /// The longest ``timeoutSeconds`` a task may set: 7 days.
    public static let maxTimeoutSeconds: Double = 7 * 86_400
    /// The allowed ``timeoutSeconds``: more than 0, at most ``maxTimeoutSeconds``.
    public static let timeoutRange: ClosedRange<Double> = Double.leastNonzeroMagnitude...maxTimeoutSeconds
    /// ``timeoutRange`` as error messages spell it.
    public static let timeoutRangeText = "0 < timeout_s ≤ 604800 (7 days)"
    /// The longest `concurrency_key`, in UTF-8 bytes.
    public static let maxConcurrencyKeyBytes = 200

    /// Whether `key` may be a `concurrency_key`: 1 to 200 UTF-8 bytes, no control characters
    /// (queue entries separate their fields with tabs).
    public static func isValidConcurrencyKey(_ key: String) -> Bool {
        !key.isEmpty && key.utf8.count <= maxConcurrencyKeyBytes
            && !key.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    /// Client-supplied or generated (UUID v4, lowercase); at most 255 bytes.
    public var id: String
    /// The id of the tree's root; shared by every task of the tree.
    public var treeID: String
    /// The parent, for organisation only: it never affects execution order.
    public var parentID: String?
    /// The label, unique inside one submitted array.
    public var name: String
    /// The executor type that runs the task.
    public var executor: String
    /// The owner, set from the caller's identity.
    public var userID: String?
    /// 0 (urgent) … 3 (low).
    public var priority: Int
    /// The tasks this one waits for, without duplicates.
    public var dependencies: [Dependency]
    /// The executor's input (a JSON object); dependency results are merged in before execution.
    public var inputs: JSONValue
    /// Executor parameters (a JSON object).
    public var params: JSONValue
    /// Schemas and apflow metadata such as `method` (a JSON object).
    public var schemas: JSONValue
    /// The lifecycle status.
    public var status: TaskStatus
    /// The executor's output.
    public var result: JSONValue?
    /// The failure or cancellation message.
    public var error: String?
    /// 0.0 … 1.0.
    public var progress: Double
    /// When the task was created (RFC 3339).
    public var createdAt: String?
    /// When the record last changed (RFC 3339).
    public var updatedAt: String?
    /// When the current attempt was claimed (RFC 3339).
    public var startedAt: String?
    /// When the task reached a terminal status (RFC 3339).
    public var completedAt: String?
    /// When a cancellation was requested (RFC 3339).
    public var cancelRequestedAt: String?
    /// How many times an agent claimed the task.
    public var attempt: Int
    /// How the task came to exist.
    public var originType: OriginType
    /// For copies and links: the most original non-link source.
    public var originalTaskID: String?
    /// Whether some task names this one as parent.
    public var hasChildren: Bool
    /// Whether some copy or link was made from this task.
    public var hasReferences: Bool
    /// Per-attempt time limit in seconds (JSON `timeout_s`); `nil` means none.
    public var timeoutSeconds: Double?
    /// Attempts allowed before the task fails for good.
    public var maxAttempts: Int
    /// Delay between attempts; `nil` means retry at once.
    public var backoff: BackoffPolicy?
    /// The admission key (JSON `concurrency_key`); `nil` means none.
    public var concurrencyKey: String?
    /// Lost leases tolerated before the task fails with `lease expired`.
    public var maxLeaseLosses: Int
    /// Leases lost so far.
    public var leaseLosses: Int
    /// The failed or cancelled required dependency that keeps this pending task from running.
    public var blockedBy: String?

    /// Creates a record; every field but the identity has its documented default.
    public init(
        id: String,
        treeID: String,
        parentID: String? = nil,
        name: String,
        executor: String,
        userID: String? = nil,
        priority: Int = TaskRecord.defaultPriority,
        dependencies: [Dependency] = [],
        inputs: JSONValue = .emptyObject,
        params: JSONValue = .emptyObject,
        schemas: JSONValue = .emptyObject,
        status: TaskStatus = .pending,
        result: JSONValue? = nil,
        error: String? = nil,
        progress: Double = 0,
        createdAt: String? = nil,
        updatedAt: String? = nil,
        startedAt: String? = nil,
        completedAt: String? = nil,
        cancelRequestedAt: String? = nil,
        attempt: Int = 0,
        originType: OriginType = .create,
        originalTaskID: String? = nil,
        hasChildren: Bool = false,
        hasReferences: Bool = false,
        timeoutSeconds: Double? = nil,
        maxAttempts: Int = TaskRecord.defaultMaxAttempts,
        backoff: BackoffPolicy? = nil,
        maxLeaseLosses: Int = TaskRecord.defaultMaxLeaseLosses,
        leaseLosses: Int = 0,
        blockedBy: String? = nil,
        concurrencyKey: String? = nil
    ) {
        self.id = id
        self.treeID = treeID
        self.parentID = parentID
        self.name = name
        self.executor = executor
        self.userID = userID
        self.priority = priority
        self.dependencies = dependencies
        self.inputs = inputs
        self.params = params
        self.schemas = schemas
        self.status = status
        self.result = result
        self.error = error
        self.progress = progress
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.startedAt = startedAt
        self.completedAt = completedAt
        self.cancelRequestedAt = cancelRequestedAt
        self.attempt = attempt
        self.originType = originType
        self.originalTaskID = originalTaskID
        self.hasChildren = hasChildren
        self.hasReferences = hasReferences
        self.timeoutSeconds = timeoutSeconds
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.concurrencyKey = concurrencyKey
        self.maxLeaseLosses = maxLeaseLosses
        self.leaseLosses = leaseLosses
        self.blockedBy = blockedBy
    }
}
