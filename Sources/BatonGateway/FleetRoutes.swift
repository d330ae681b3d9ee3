import BatonCore
import BatonStore
import Hummingbird

/// `GET /v1/agents` (the live agents) and `GET /v1/executors` (per executor type: ready tasks by
/// priority, running, delayed, agents and their free slots, outcomes of the last minute).
struct FleetRoutes {
    let services: GatewayServices

    func register(on group: RouterGroup<GatewayContext>) {
        group.get("agents", use: agents)
        group.get("executors", use: executors)
    }

    @Sendable func agents(_ request: Request, context: GatewayContext) async throws -> Response {
        _ = try context.requireIdentity()
        let agents = try await services.store.agents()
        return JSONResponse.make(["agents": .array(agents.map(\.jsonValue))])
    }

    @Sendable func executors(_ request: Request, context: GatewayContext) async throws -> Response {
        _ = try context.requireIdentity()
        let summaries = try await services.store.executorSummaries()
        return JSONResponse.make(["executors": .array(summaries.map(\.jsonValue))])
    }
}
