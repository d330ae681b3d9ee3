import BatonCore
import BatonStore
import Foundation
import Hummingbird

/// `POST /v1/trees`, `GET /v1/trees/{id}`, `POST /v1/trees/{id}/execute`, `POST /v1/trees/{id}/cancel`.
struct TreeRoutes {
    let services: GatewayServices

    func register(on group: RouterGroup<GatewayContext>) {
        group.post("trees", use: create)
        group.get("trees", use: list)
        group.get("trees/:id", use: get)
        group.delete("trees/:id", use: delete)
        group.post("trees/:id/execute", use: execute)
        group.post("trees/:id/cancel", use: cancel)
    }

    /// Validates and stores a whole array; `execute: false` stores without running.
    @Sendable func create(_ request: Request, context: GatewayContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let idempotencyKey = try request.headers[.idempotencyKey].map(IdempotencyStore.validate)
        guard let body = try await services.input.json(request, required: true) else { throw GatewayError.bodyRequired }
        let rules = services.submissionRules
        let parsed = try rules.parse(body, userID: identity.userID, isAdmin: identity.isAdmin)

        var record: IdempotencyStore.Record?
        if let idempotencyKey {
            let digest = SHA256.hex(Array(body.jsonString().utf8))
            switch try await services.idempotency.claim(userID: identity.userID, key: idempotencyKey, bodyDigest: digest) {
            case .replay(let status, let text):
                return JSONResponse.make(
                    text: text, status: HTTPResponse.Status(code: status),
                    headers: [.idempotentReplayed: "true"])
            case .fresh(let claimed):
                record = claimed
            }
        }
        do {
            let result = try await services.store.submit(
                parsed.items, userID: identity.userID, execute: parsed.execute ?? true, validator: rules.validator,
                token: record?.submissionToken ?? TaskID.generate(), retentionSeconds: parsed.retentionSeconds,
                runAtMillis: parsed.runAtMillis)
            let warnings = try await services.store.unservedExecutorWarnings(TaskSubmission.executorFields(parsed.items))
            let answer = Self.created(result, warnings: warnings).jsonString()
            if let record { try await services.idempotency.remember(record, status: 201, body: answer) }
            return JSONResponse.make(text: answer, status: .created, headers: [.location: "/v1/trees/\(Self.escapePath(result.treeID))"])
        } catch {
            if let record { await services.idempotency.release(record) }
            throw error
        }
    }

    /// The tree: status, progress, counts, tasks nested by parent (`?flat=true`: a list).
    @Sendable func get(_ request: Request, context: GatewayContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let treeID = try RequestInput.pathID(context)
        let flat = try RequestInput.flag(request, "flat")
        let (snapshot, waiting) = try await services.store.treeWithWaiting(treeID, userID: identity.scope)
        return JSONResponse.make(flat ? snapshot.flatJSON(waiting: waiting) : snapshot.nestedJSON(waiting: waiting))
    }

    /// The caller's trees, newest first (`?status=`, `?limit=` 1…1000, `?cursor=`); an admin sees
    /// every user's, or one user's with `?user_id=`.
    @Sendable func list(_ request: Request, context: GatewayContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let status = try RequestInput.string(request, "status")
        if let status, !Self.treeStatuses.contains(status) {
            throw GatewayError.badQuery("status", "must be one of \(Self.treeStatuses.joined(separator: ", "))")
        }
        var scope = identity.scope
        if let userID = try RequestInput.string(request, "user_id") {
            guard identity.isAdmin else { throw GatewayError.badQuery("user_id", "is for admins only") }
            guard RequestInput.isValidID(userID) else { throw GatewayError.badQuery("user_id", "is not a valid id") }
            scope = userID
        }
        let limit = try RequestInput.limit(request, default: 50)
        let page = try await services.store.listTrees(
            userID: scope, status: status, limit: limit, cursor: try RequestInput.string(request, "cursor"))
        return JSONResponse.make([
            "trees": .array(page.trees.map(\.jsonValue)),
            "next_cursor": page.nextCursor.map(JSONValue.string) ?? .null,
        ])
    }

    static let treeStatuses = ["pending", "in_progress", "completed", "failed", "cancelled"]

    /// Deletes a finished or archived tree (issue 9, retention); `?cancel=true` cancels a running
    /// one first and deletes it once nothing of it runs (at once, or when its running tasks stopped).
    @Sendable func delete(_ request: Request, context: GatewayContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let treeID = try RequestInput.pathID(context)
        let cancel = try RequestInput.flag(request, "cancel")
        _ = try await services.input.object(request, allowed: [])
        let deleted = try await services.store.delete(treeID, userID: identity.scope, cancelRunning: cancel)
        return JSONResponse.make(["tree_id": .string(treeID), "deleted": .bool(deleted)], status: deleted ? .ok : .accepted)
    }

    /// Starts a stored tree (the guide's `distribute_task_tree`); answers the tree record.
    @Sendable func execute(_ request: Request, context: GatewayContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let treeID = try RequestInput.pathID(context)
        _ = try await services.input.object(request, allowed: [])
        try await services.store.startTree(treeID, userID: identity.scope)
        return JSONResponse.make(try await services.store.treeRecord(treeID, userID: identity.scope).jsonValue)
    }

    /// Cancels every pending and running task of the tree (SPEC "Cancellation").
    @Sendable func cancel(_ request: Request, context: GatewayContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let treeID = try RequestInput.pathID(context)
        let members = try await services.input.object(request, allowed: ["message"])
        let message = try RequestInput.string(members, "message")
        let outcomes = try await services.store.cancelTree(treeID, userID: identity.scope, message: message)
        return JSONResponse.make(.object([
            "tree_id": .string(treeID),
            "tasks": .array(outcomes.map(\.jsonValue)),
        ]))
    }

    /// The 201 answer; `warnings` (always present, often empty) says what will keep tasks waiting.
    static func created(_ result: SubmitResult, warnings: [String] = []) -> JSONValue {
        .object([
            "tree_id": .string(result.treeID), "task_ids": .array(result.taskIDs.map(JSONValue.string)),
            "warnings": .array(warnings.map(JSONValue.string)),
        ])
    }

    /// An id as one path segment.
    static func escapePath(_ id: String) -> String {
        id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/", "?", "#", "%"])) ?? id
    }
}
