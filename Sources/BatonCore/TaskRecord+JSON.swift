import Foundation

extension TaskRecord {
    /// The JSON key of every field of a record, in documentation order.
    public enum Field: String, Sendable, CaseIterable {
        case id
        case treeID = "tree_id"
        case parentID = "parent_id"
        case name, executor
        case userID = "user_id"
        case priority, dependencies, inputs, params, schemas, status, result, error, progress
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case startedAt = "started_at"
        case completedAt = "completed_at"
        case cancelRequestedAt = "cancel_requested_at"
        case attempt
        case originType = "origin_type"
        case originalTaskID = "original_task_id"
        case hasChildren = "has_children"
        case hasReferences = "has_references"
        case timeoutSeconds = "timeout_s"
        case maxAttempts = "max_attempts"
        case backoff
        case maxLeaseLosses = "max_lease_losses"
        case leaseLosses = "lease_losses"
        case blockedBy = "blocked_by"
        case concurrencyKey = "concurrency_key"
    }

    /// The record as a JSON object with every key of ``Field`` present (`null` when absent).
    public var jsonValue: JSONValue {
        func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        var members: [String: JSONValue] = [:]
        members.reserveCapacity(Field.allCases.count)
        members[Field.id.rawValue] = .string(id)
        members[Field.treeID.rawValue] = .string(treeID)
        members[Field.parentID.rawValue] = text(parentID)
        members[Field.name.rawValue] = .string(name)
        members[Field.executor.rawValue] = .string(executor)
        members[Field.userID.rawValue] = text(userID)
        members[Field.priority.rawValue] = .int(priority)
        members[Field.dependencies.rawValue] = .array(dependencies.map(\.jsonValue))
        members[Field.inputs.rawValue] = inputs
        members[Field.params.rawValue] = params
        members[Field.schemas.rawValue] = schemas
        members[Field.status.rawValue] = .string(status.rawValue)
        members[Field.result.rawValue] = result ?? .null
        members[Field.error.rawValue] = text(error)
        members[Field.progress.rawValue] = .double(progress)
        members[Field.createdAt.rawValue] = text(createdAt)
        members[Field.updatedAt.rawValue] = text(updatedAt)
        members[Field.startedAt.rawValue] = text(startedAt)
        members[Field.completedAt.rawValue] = text(completedAt)
        members[Field.cancelRequestedAt.rawValue] = text(cancelRequestedAt)
        members[Field.attempt.rawValue] = .int(attempt)
        members[Field.originType.rawValue] = .string(originType.rawValue)
        members[Field.originalTaskID.rawValue] = text(originalTaskID)
        members[Field.hasChildren.rawValue] = .bool(hasChildren)
        members[Field.hasReferences.rawValue] = .bool(hasReferences)
        members[Field.timeoutSeconds.rawValue] = timeoutSeconds.map(JSONValue.double) ?? .null
        members[Field.maxAttempts.rawValue] = .int(maxAttempts)
        members[Field.backoff.rawValue] = backoff?.jsonValue ?? .null
        members[Field.maxLeaseLosses.rawValue] = .int(maxLeaseLosses)
        members[Field.leaseLosses.rawValue] = .int(leaseLosses)
        members[Field.blockedBy.rawValue] = text(blockedBy)
        members[Field.concurrencyKey.rawValue] = text(concurrencyKey)
        return .object(members)
    }

    /// Reads a record from its JSON object form.
    ///
    /// `id`, `tree_id`, `name` and `executor` are required; every other key may be missing or
    /// `null` and then takes its default.
    /// - Throws: ``BatonError`` `invalid_argument` naming the field of a missing or mistyped value.
    public init(jsonValue: JSONValue) throws(BatonError) {
        let reader = try JSONFieldReader(jsonValue, path: "")
        func required(_ field: Field) throws(BatonError) -> String {
            guard let value = try reader.string(field.rawValue) else {
                throw BatonError.invalidArgument("\(field.rawValue) is required", field: field.rawValue)
            }
            return value
        }
        func string(_ field: Field) throws(BatonError) -> String? { try reader.string(field.rawValue) }

        self.init(
            id: try required(.id),
            treeID: try required(.treeID),
            name: try required(.name),
            executor: try required(.executor)
        )
        parentID = try string(.parentID)
        userID = try string(.userID)
        priority = try reader.int(Field.priority.rawValue) ?? Self.defaultPriority
        dependencies = try Self.readDependencies(reader)
        inputs = try reader.object(Field.inputs.rawValue) ?? .emptyObject
        params = try reader.object(Field.params.rawValue) ?? .emptyObject
        schemas = try reader.object(Field.schemas.rawValue) ?? .emptyObject
        status = try reader.enumeration(Field.status.rawValue, TaskStatus.self) ?? .pending
        result = reader.value(Field.result.rawValue)
        error = try string(.error)
        progress = try reader.double(Field.progress.rawValue) ?? 0
        createdAt = try string(.createdAt)
        updatedAt = try string(.updatedAt)
        startedAt = try string(.startedAt)
        completedAt = try string(.completedAt)
        cancelRequestedAt = try string(.cancelRequestedAt)
        attempt = try reader.int(Field.attempt.rawValue) ?? 0
        originType = try reader.enumeration(Field.originType.rawValue, OriginType.self) ?? .create
        originalTaskID = try string(.originalTaskID)
        hasChildren = try reader.bool(Field.hasChildren.rawValue) ?? false
        hasReferences = try reader.bool(Field.hasReferences.rawValue) ?? false
        timeoutSeconds = try reader.double(Field.timeoutSeconds.rawValue)
        maxAttempts = try reader.int(Field.maxAttempts.rawValue) ?? Self.defaultMaxAttempts
        backoff = try reader.nested(Field.backoff.rawValue).map { (nested) throws(BatonError) in
            try BackoffPolicy(reader: nested)
        }
        maxLeaseLosses = try reader.int(Field.maxLeaseLosses.rawValue) ?? Self.defaultMaxLeaseLosses
        leaseLosses = try reader.int(Field.leaseLosses.rawValue) ?? 0
        blockedBy = try string(.blockedBy)
        concurrencyKey = try string(.concurrencyKey)
    }

    private static func readDependencies(_ reader: JSONFieldReader) throws(BatonError) -> [Dependency] {
        let key = Field.dependencies.rawValue
        guard let elements = try reader.array(key) else { return [] }
        var dependencies: [Dependency] = []
        dependencies.reserveCapacity(elements.count)
        for (position, element) in elements.enumerated() {
            let path = "\(key)[\(position)]"
            if case .string(let id) = element {
                dependencies.append(Dependency(id: id))
                continue
            }
            let item = try JSONFieldReader(element, path: path)
            guard let id = try item.string("id") else {
                throw BatonError.invalidArgument("\(path).id is required", field: "\(path).id")
            }
            dependencies.append(Dependency(id: id, required: try item.bool("required") ?? true))
        }
        return dependencies
    }
}

extension BackoffPolicy {
    /// Reads `{"strategy", "base_s"}`; a missing strategy means `exponential`, a missing base 1 s.
    init(reader: JSONFieldReader) throws(BatonError) {
        self.init(
            strategy: try reader.enumeration("strategy", Strategy.self) ?? .exponential,
            baseSeconds: try reader.double("base_s") ?? 1
        )
    }
}

extension TaskRecord: Codable {
    /// Decodes the JSON object form (see ``init(jsonValue:)``).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let value = try container.decode(JSONValue.self)
        do {
            try self.init(jsonValue: value)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
    }

    /// Encodes the JSON object form (see ``jsonValue``), with `null` for absent values.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(jsonValue)
    }
}
