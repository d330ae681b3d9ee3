import Foundation

extension TaskSubmission {
    /// Decodes a submitted body: a bare JSON array of tasks, or an object `{"tasks": [...]}`.
    ///
    /// Type errors name the field, e.g. `tasks[3].priority must be an integer`; paths always use
    /// the `tasks[i]` prefix whichever form was sent. Ranges and references are checked later by
    /// ``TreeValidator``.
    /// - Throws: ``BatonError`` `invalid_argument`.
    public static func decode(array body: JSONValue) throws(BatonError) -> [TaskSubmission] {
        let elements: [JSONValue]
        switch body {
        case .array(let items):
            elements = items
        case .object(let members) where members["tasks"] != nil:
            guard case .array(let items)? = members["tasks"] else {
                throw BatonError.invalidArgument("tasks must be an array", field: "tasks")
            }
            elements = items
        default:
            throw BatonError.invalidArgument(
                "Request body must be a JSON array of tasks or an object with a \"tasks\" array", field: "tasks")
        }
        var submissions: [TaskSubmission] = []
        submissions.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            submissions.append(try TaskSubmission(jsonValue: element, path: "tasks[\(index)]"))
        }
        return submissions
    }

    /// Parses JSON text and decodes it with ``decode(array:)``.
    /// - Throws: ``BatonError`` `invalid_argument` for malformed JSON or mistyped fields.
    public static func decode(data: Data) throws(BatonError) -> [TaskSubmission] {
        try decode(array: try JSONValue(parsing: data))
    }

    /// Decodes one task object; `path` prefixes field names in errors (default `task`).
    /// - Throws: ``BatonError`` `invalid_argument`, e.g. `tasks[3] must be an object`.
    public init(jsonValue: JSONValue, path: String = "task") throws(BatonError) {
        let reader = try JSONFieldReader(jsonValue, path: path)
        try KnownFields.check(reader.members, known: KnownFields.task, ignored: KnownFields.apflowIgnored, path: path)
        self.init(
            id: try reader.string("id"),
            name: try reader.string("name"),
            executor: try reader.string("executor"),
            parentID: try reader.string("parent_id"),
            priority: try reader.int("priority"),
            dependencies: try Self.decodeDependencies(reader),
            inputs: try reader.object("inputs") ?? .emptyObject,
            params: try reader.object("params") ?? .emptyObject,
            schemas: try reader.object("schemas") ?? .emptyObject,
            timeoutSeconds: try reader.double("timeout_s"),
            maxAttempts: try reader.int("max_attempts"),
            backoff: try reader.nested("backoff").map { (nested) throws(BatonError) in
                try KnownFields.check(nested.members, known: KnownFields.backoff, path: nested.path)
                return try BackoffPolicy(reader: nested)
            },
            concurrencyKey: try reader.string("concurrency_key")
        )
        // `user_id` is accepted and ignored: the owner comes from the caller's identity. So are
        // apflow's state fields (``KnownFields/apflowIgnored``); any other key is refused.
    }

    private static func decodeDependencies(_ reader: JSONFieldReader) throws(BatonError) -> [DependencyReference] {
        guard let elements = try reader.array("dependencies") else { return [] }
        var references: [DependencyReference] = []
        references.reserveCapacity(elements.count)
        for (position, element) in elements.enumerated() {
            let path = reader.fieldPath("dependencies") + "[\(position)]"
            switch element {
            case .string(let id):
                references.append(.id(id))
            case .object(let members):
                let item = JSONFieldReader(members, path: path)
                try KnownFields.check(members, known: KnownFields.dependency, path: path)
                let required = try item.bool("required") ?? true
                if let id = try item.string("id") {
                    references.append(.id(id, required: required))
                } else if let name = try item.string("name") {
                    references.append(.name(name, required: required))
                } else {
                    throw BatonError.invalidArgument("\(path) must have an \"id\" or a \"name\"", field: path)
                }
            default:
                throw BatonError.invalidArgument("\(path) must be a string or an object", field: path)
            }
        }
        return references
    }
}
