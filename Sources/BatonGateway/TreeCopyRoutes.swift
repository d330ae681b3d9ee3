import BatonCore
import BatonStore
import Hummingbird

/// `POST /v1/trees/{id}/copy`, `/link`, `/archive`, `/mixed` (SPEC "Copy, link, archive, mixed").
/// Copies, links and mixed trees are new trees owned by the caller (an admin's links and mixed
/// trees belong to the source's owner), stored without running (`POST /v1/trees/{id}/execute`
/// runs a copy).
struct TreeCopyRoutes {
    let services: GatewayServices

    func register(on group: RouterGroup<GatewayContext>) {
        group.post("trees/:id/copy", use: copy)
        group.post("trees/:id/link", use: link)
        group.post("trees/:id/archive", use: archive)
        group.post("trees/:id/mixed", use: mixed)
    }

    /// `{"task_id"?, "recursive"?, "overrides"?}` → 201 `{"tree_id", "task_ids"}`.
    @Sendable func copy(_ request: Request, context: GatewayContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let treeID = try RequestInput.pathID(context)
        let members = try await services.input.object(request, allowed: ["task_id", "recursive", "overrides"])
        let result = try await services.store.copyTree(
            treeID, userID: identity.scope, ownerID: identity.userID,
            taskID: try Self.taskID(members), recursive: try RequestInput.bool(members, "recursive") ?? true,
            overrides: Self.overrides(members))
        return Self.created(result)
    }

    /// `{"task_id"?}` → 201 `{"tree_id", "task_ids"}`.
    @Sendable func link(_ request: Request, context: GatewayContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let treeID = try RequestInput.pathID(context)
        let members = try await services.input.object(request, allowed: ["task_id"])
        let result = try await services.store.linkTree(
            treeID, userID: identity.scope, ownerID: try await linkOwner(treeID, identity), taskID: try Self.taskID(members))
        return Self.created(result)
    }

    /// No body → 200 the tree record, now read-only.
    @Sendable func archive(_ request: Request, context: GatewayContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let treeID = try RequestInput.pathID(context)
        _ = try await services.input.object(request, allowed: [])
        return JSONResponse.make(try await services.store.archiveTree(treeID, userID: identity.scope).jsonValue)
    }

    /// `{"task_id"?, "link_task_ids", "overrides"?}` → 201 `{"tree_id", "task_ids"}`.
    @Sendable func mixed(_ request: Request, context: GatewayContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let treeID = try RequestInput.pathID(context)
        let members = try await services.input.object(request, allowed: ["task_id", "link_task_ids", "overrides"])
        let result = try await services.store.mixedTree(
            treeID, userID: identity.scope, ownerID: try await linkOwner(treeID, identity), taskID: try Self.taskID(members),
            linkTaskIDs: try RequestInput.stringArray(members, "link_task_ids") ?? [],
            overrides: Self.overrides(members))
        return Self.created(result)
    }

    /// Who owns a link or mixed tree: the caller, except that an admin links on behalf of the
    /// source's owner (links may only point to their owner's tasks).
    private func linkOwner(_ treeID: String, _ identity: Identity) async throws -> String? {
        guard identity.isAdmin else { return identity.userID }
        return try await services.store.treeRecord(treeID, userID: nil).userID
    }

    private static func taskID(_ members: [String: JSONValue]) throws -> String? {
        guard let id = try RequestInput.string(members, "task_id") else { return nil }
        guard RequestInput.isValidID(id) else {
            throw BatonError.invalidArgument("task_id is not a valid id", field: "task_id")
        }
        return id
    }

    private static func overrides(_ members: [String: JSONValue]) -> JSONValue? {
        guard let value = members["overrides"], !value.isNull else { return nil }
        return value
    }

    private static func created(_ result: SubmitResult) -> Response {
        JSONResponse.make(
            TreeRoutes.created(result), status: .created,
            headers: [.location: "/v1/trees/\(TreeRoutes.escapePath(result.treeID))"])
    }
}
