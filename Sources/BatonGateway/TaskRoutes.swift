import BatonCore
import BatonStore
import Hummingbird

/// `POST /v1/tasks`, `GET /v1/tasks`, `GET /v1/tasks/{id}`, `POST /v1/tasks/{id}/cancel`,
/// `POST /v1/tasks/{id}/reexecute`.
struct TaskRoutes {
    let services: GatewayServices

    func register(on group: RouterGroup<GatewayContext>) {
        group.post("tasks", use: create)
        group.get("tasks", use: list)
        group.get("tasks/:id", use: get)
        group.post("tasks/:id/cancel", use: cancel)
        group.post("tasks/:id/reexecute", use: reexecute)
    }

    /// One task: with `parent_id` it joins the parent's tree, without it starts a tree of its own.
    @Sendable func create(_ request: Request, context: GatewayContext) async throws -> Response {
        let identity = try context.requireIdentity()
        guard let body = try await services.input.json(request, required: true) else { throw GatewayError.bodyRequired }
        guard case .object = body else {
            throw BatonError.invalidArgument("Request body must be a JSON object (one task)", field: "body")
        }
        let item = try TaskSubmission(jsonValue: body, path: "")
        do {
            try services.settings.executorPolicy.check([item], userID: identity.userID, isAdmin: identity.isAdmin)
        } catch {
            // One task, not an array: the field is `executor`, not `tasks[0].executor`.
            var single = error
            single.field = error.field.map { String($0.dropFirst("tasks[0].".count)) }
            throw single
        }
        let record = try await services.store.addTask(
            item, userID: identity.scope, ownerID: identity.userID, validator: services.validator)
        let warnings = try await services.store.unservedExecutorWarnings(TaskSubmission.executorFields([item], single: true))
        guard case .object(var answer) = record.jsonValue else { return JSONResponse.make(record.jsonValue, status: .created) }
        answer["warnings"] = .array(warnings.map(JSONValue.string))
        return JSONResponse.make(
            .object(answer), status: .created, headers: [.location: "/v1/tasks/\(TreeRoutes.escapePath(record.id))"])
    }

    /// The caller's tasks (everyone's for an admin), filtered and paginated.
    @Sendable func list(_ request: Request, context: GatewayContext) async throws -> Response {
        let identity = try context.requireIdentity()
        var filter = TaskFilter()
        if let status = try RequestInput.string(request, "status") {
            guard let value = TaskStatus(rawValue: status) else {
                throw GatewayError.badQuery("status", "must be one of \(TaskStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            filter.status = value
        }
        if let treeID = try RequestInput.string(request, "tree_id") {
            guard RequestInput.isValidID(treeID) else { throw GatewayError.badQuery("tree_id", "is not a valid id") }
            filter.treeID = treeID
        }
        filter.executor = try RequestInput.string(request, "executor")
        let limit = try RequestInput.limit(request, default: 100)
        let cursor = try RequestInput.string(request, "cursor")
        let page = try await services.store.listTasks(userID: identity.scope, filter: filter, limit: limit, cursor: cursor)
        return JSONResponse.make(.object([
            "tasks": .array(page.tasks.map(\.jsonValue)),
            "next_cursor": page.nextCursor.map(JSONValue.string) ?? .null,
        ]))
    }

    /// The task record.
    @Sendable func get(_ request: Request, context: GatewayContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let taskID = try RequestInput.pathID(context)
        let (record, waiting) = try await services.store.taskWithWaiting(taskID, userID: identity.scope)
        guard case .object(var object) = record.jsonValue else { return JSONResponse.make(record.jsonValue) }
        object["waiting"] = waiting?.jsonValue ?? .null
        return JSONResponse.make(.object(object))
    }

    /// SPEC "Cancellation": `{"task_id", "status", "stop_confirmed", "message"?}`.
    @Sendable func cancel(_ request: Request, context: GatewayContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let taskID = try RequestInput.pathID(context)
        let members = try await services.input.object(request, allowed: ["message"])
        let message = try RequestInput.string(members, "message")
        let outcome = try await services.store.cancel(taskID: taskID, userID: identity.scope, message: message)
        return JSONResponse.make(outcome.jsonValue)
    }

    /// SPEC "Re-execution": resets the task and its unfinished dependents; answers their ids.
    @Sendable func reexecute(_ request: Request, context: GatewayContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let taskID = try RequestInput.pathID(context)
        let members = try await services.input.object(request, allowed: ["include_completed"])
        let includeCompleted = try RequestInput.bool(members, "include_completed") ?? false
        let reset = try await services.store.reexecute(taskID: taskID, userID: identity.scope, includeCompleted: includeCompleted)
        return JSONResponse.make(.object([
            "task_id": .string(taskID),
            "task_ids": .array(reset.map(JSONValue.string)),
        ]))
    }
}
