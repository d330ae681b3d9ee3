import BatonCore
import BatonStore
import Hummingbird

/// `POST/GET /v1/schedules`, `GET/DELETE /v1/schedules/{id}`, `POST /v1/schedules/{id}/pause`,
/// `POST /v1/schedules/{id}/resume`, `GET /v1/schedules/{id}/runs`: a template tree copied and
/// executed at each due time (cron or every N seconds). A user sees only their own schedules.
struct ScheduleRoutes {
    let services: GatewayServices

    func register(on group: RouterGroup<GatewayContext>) {
        group.post("schedules", use: create)
        group.get("schedules", use: list)
        group.get("schedules/:id", use: get)
        group.delete("schedules/:id", use: delete)
        group.post("schedules/:id/pause", use: pause)
        group.post("schedules/:id/resume", use: resume)
        group.get("schedules/:id/runs", use: runs)
    }

    @Sendable func create(_ request: Request, context: GatewayContext) async throws -> Response {
        let identity = try context.requireIdentity()
        guard let body = try await services.input.json(request, required: true) else { throw GatewayError.bodyRequired }
        let rules = services.submissionRules
        let parsed = try ScheduleRequest(body, rules: rules, userID: identity.userID, isAdmin: identity.isAdmin)
        let schedule = try await services.store.createSchedule(
            parsed.items, userID: identity.userID, timing: parsed.timing, timeZoneName: parsed.timeZoneName,
            overlap: parsed.overlap, validator: rules.validator)
        return JSONResponse.make(schedule.jsonValue, status: .created)
    }

    @Sendable func list(_ request: Request, context: GatewayContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let limit = try RequestInput.limit(request, default: 100)
        let schedules = try await services.store.schedules(userID: identity.scope, limit: limit)
        return JSONResponse.make(["schedules": .array(schedules.map(\.jsonValue))])
    }

    @Sendable func get(_ request: Request, context: GatewayContext) async throws -> Response {
        let identity = try context.requireIdentity()
        return JSONResponse.make(try await services.store.schedule(try RequestInput.pathID(context), userID: identity.scope).jsonValue)
    }

    @Sendable func delete(_ request: Request, context: GatewayContext) async throws -> Response {
        let identity = try context.requireIdentity()
        try await services.store.deleteSchedule(try RequestInput.pathID(context), userID: identity.scope)
        return Response(status: .noContent)
    }

    @Sendable func pause(_ request: Request, context: GatewayContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let schedule = try await services.store.setSchedule(try RequestInput.pathID(context), userID: identity.scope, paused: true)
        return JSONResponse.make(schedule.jsonValue)
    }

    @Sendable func resume(_ request: Request, context: GatewayContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let schedule = try await services.store.setSchedule(try RequestInput.pathID(context), userID: identity.scope, paused: false)
        return JSONResponse.make(schedule.jsonValue)
    }

    @Sendable func runs(_ request: Request, context: GatewayContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let limit = try RequestInput.limit(request, default: 100)
        let runs = try await services.store.scheduleRuns(try RequestInput.pathID(context), userID: identity.scope, limit: limit)
        return JSONResponse.make(["runs": .array(runs.map(\.jsonValue))])
    }
}
