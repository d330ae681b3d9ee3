/// Every route of the gateway, as OpenAPI writes them (`/v1/tasks/{id}`): the source of the
/// `Allow` header of 405 answers, and what tests check `/openapi.json` against.
enum RouteTable {
    struct Route: Sendable, Hashable {
        let method: String
        let path: String
    }

    static let routes: [Route] = [
        Route(method: "GET", path: "/healthz"),
        Route(method: "GET", path: "/readyz"),
        Route(method: "GET", path: "/metrics"),
        Route(method: "GET", path: "/openapi.json"),
        Route(method: "POST", path: "/v1/trees"),
        Route(method: "GET", path: "/v1/trees"),
        Route(method: "GET", path: "/v1/agents"),
        Route(method: "GET", path: "/v1/executors"),
        Route(method: "GET", path: "/v1/trees/{id}"),
        Route(method: "DELETE", path: "/v1/trees/{id}"),
        Route(method: "POST", path: "/v1/trees/{id}/execute"),
        Route(method: "POST", path: "/v1/trees/{id}/cancel"),
        Route(method: "POST", path: "/v1/trees/{id}/copy"),
        Route(method: "POST", path: "/v1/trees/{id}/link"),
        Route(method: "POST", path: "/v1/trees/{id}/archive"),
        Route(method: "POST", path: "/v1/trees/{id}/mixed"),
        Route(method: "GET", path: "/v1/trees/{id}/events"),
        Route(method: "GET", path: "/v1/trees/{id}/ws"),
        Route(method: "POST", path: "/v1/tasks"),
        Route(method: "GET", path: "/v1/tasks"),
        Route(method: "GET", path: "/v1/tasks/{id}"),
        Route(method: "POST", path: "/v1/tasks/{id}/cancel"),
        Route(method: "POST", path: "/v1/tasks/{id}/reexecute"),
        Route(method: "POST", path: "/v1/schedules"),
        Route(method: "GET", path: "/v1/schedules"),
        Route(method: "GET", path: "/v1/schedules/{id}"),
        Route(method: "DELETE", path: "/v1/schedules/{id}"),
        Route(method: "POST", path: "/v1/schedules/{id}/pause"),
        Route(method: "POST", path: "/v1/schedules/{id}/resume"),
        Route(method: "GET", path: "/v1/schedules/{id}/runs"),
    ]

    /// The methods of the route(s) whose template matches `path` (empty when none does).
    static func methods(matching path: String) -> [String] {
        let segments = split(path)
        var methods: [String] = []
        for route in routes where matches(split(route.path), segments) && !methods.contains(route.method) {
            methods.append(route.method)
        }
        return methods
    }

    /// Hummingbird's route path (`/v1/tasks/:id`) in OpenAPI form (`/v1/tasks/{id}`).
    static func template(_ routerPath: String) -> String {
        let segments = routerPath.split(separator: "/", omittingEmptySubsequences: true).map { segment in
            segment.hasPrefix(":") ? "{\(segment.dropFirst())}" : String(segment)
        }
        return "/" + segments.joined(separator: "/")
    }

    private static func split(_ path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: true)
    }

    private static func matches(_ template: [Substring], _ path: [Substring]) -> Bool {
        guard template.count == path.count else { return false }
        for (part, actual) in zip(template, path) where !(part.hasPrefix("{") || part == actual) {
            return false
        }
        return true
    }
}
