/// One item of a submitted task array, as the client wrote it, before validation.
///
/// Decoded leniently like apflow (see ``decode(array:)``): unknown keys are ignored, `null` means
/// absent, `user_id` is accepted and ignored (identity comes from the caller). ``TreeValidator``
/// turns an array of submissions into ``TaskRecord``s.
public struct TaskSubmission: Sendable, Hashable {
    /// A dependency as written by the client: by id or by name, required or optional.
    public struct DependencyReference: Sendable, Hashable {
        /// How ``key`` names the task depended on.
        public enum Kind: String, Sendable, Hashable {
            /// `{"id": …}` or a bare string: an id in the array, else a name in the array, else
            /// an existing task outside the array (a cross-tree dependency).
            case id
            /// `{"name": …}`: a task of the same array, by name.
            case name
        }

        /// How ``key`` names the task.
        public var kind: Kind
        /// The id or name written by the client.
        public var key: String
        /// Whether the dependency must complete (default `true`).
        public var required: Bool

        /// Creates a reference.
        public init(kind: Kind, key: String, required: Bool = true) {
            self.kind = kind
            self.key = key
            self.required = required
        }

        /// A reference by id (or by name, when no task of the array has that id).
        public static func id(_ id: String, required: Bool = true) -> DependencyReference {
            DependencyReference(kind: .id, key: id, required: required)
        }

        /// A reference by name to a task of the same array.
        public static func name(_ name: String, required: Bool = true) -> DependencyReference {
            DependencyReference(kind: .name, key: name, required: required)
        }

        /// The JSON form: `{"id"|"name": key, "required": bool}`.
        public var jsonValue: JSONValue {
            .object([kind.rawValue: .string(key), "required": .bool(required)])
        }
    }

    /// Client-supplied id; a UUID is generated when absent.
    public var id: String?
    /// The label (required by validation, unique inside the array).
    public var name: String?
    /// The executor type, when given explicitly.
    public var executor: String?
    /// The parent, by id or by name of a task of the same array.
    public var parentID: String?
    /// 0 … 3; `nil` means the default 2.
    public var priority: Int?
    /// The dependencies as written.
    public var dependencies: [DependencyReference]
    /// A JSON object, `{}` when absent.
    public var inputs: JSONValue
    /// A JSON object, `{}` when absent.
    public var params: JSONValue
    /// A JSON object, `{}` when absent.
    public var schemas: JSONValue
    /// Per-attempt time limit in seconds (JSON `timeout_s`).
    public var timeoutSeconds: Double?
    /// Attempts allowed; `nil` means the default 1.
    public var maxAttempts: Int?
    /// Delay between attempts.
    public var backoff: BackoffPolicy?
    /// The admission key (JSON `concurrency_key`, e.g. a customer id): the executor type's
    /// `max_running_per_key` limits how many tasks of one key run at once.
    public var concurrencyKey: String?

    /// Creates a submission.
    public init(
        id: String? = nil,
        name: String?,
        executor: String? = nil,
        parentID: String? = nil,
        priority: Int? = nil,
        dependencies: [DependencyReference] = [],
        inputs: JSONValue = .emptyObject,
        params: JSONValue = .emptyObject,
        schemas: JSONValue = .emptyObject,
        timeoutSeconds: Double? = nil,
        maxAttempts: Int? = nil,
        backoff: BackoffPolicy? = nil,
        concurrencyKey: String? = nil
    ) {
        self.id = id
        self.name = name
        self.executor = executor
        self.parentID = parentID
        self.priority = priority
        self.dependencies = dependencies
        self.inputs = inputs
        self.params = params
        self.schemas = schemas
        self.timeoutSeconds = timeoutSeconds
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.concurrencyKey = concurrencyKey
    }

    /// The executor type that will run the task, in SPEC order: ``executor``, then
    /// `params.executor_id`, then `schemas.method`, then ``name``. Empty strings are skipped.
    public var resolvedExecutor: String? {
        executorSource?.value
    }

    /// The resolved executor and the key it came from (`executor`, `params.executor_id`,
    /// `schemas.method` or `name`), for error messages.
    var executorSource: (value: String, field: String)? {
        let candidates: [(String?, String)] = [
            (executor, "executor"),
            (params["executor_id"]?.stringValue, "params.executor_id"),
            (schemas["method"]?.stringValue, "schemas.method"),
            (name, "name"),
        ]
        for case (let value?, let field) in candidates where !value.isEmpty {
            return (value, field)
        }
        return nil
    }

    /// The executor type of each task with the field it came from, as `tasks[i].<key>` (or
    /// `<key>` alone for a single task, `path` empty), in array order.
    public static func executorFields(_ items: [TaskSubmission], single: Bool = false) -> [(executor: String, field: String)] {
        items.enumerated().compactMap { index, item in
            item.executorSource.map { ($0.value, single ? $0.field : "tasks[\(index)].\($0.field)") }
        }
    }

    /// The JSON object form; absent values are left out.
    public var jsonValue: JSONValue {
        var members: [String: JSONValue] = [
            "dependencies": .array(dependencies.map(\.jsonValue)),
            "inputs": inputs,
            "params": params,
            "schemas": schemas,
        ]
        if let id { members["id"] = .string(id) }
        if let name { members["name"] = .string(name) }
        if let executor { members["executor"] = .string(executor) }
        if let parentID { members["parent_id"] = .string(parentID) }
        if let priority { members["priority"] = .int(priority) }
        if let timeoutSeconds { members["timeout_s"] = .double(timeoutSeconds) }
        if let concurrencyKey { members["concurrency_key"] = .string(concurrencyKey) }
        if let maxAttempts { members["max_attempts"] = .int(maxAttempts) }
        if let backoff { members["backoff"] = backoff.jsonValue }
        return .object(members)
    }
}
