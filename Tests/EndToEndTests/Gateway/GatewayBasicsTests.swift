import BatonCore
import Foundation
import Testing

/// Public routes, authentication, unknown routes and methods, metrics and the OpenAPI document.
@Suite("Gateway basics")
struct GatewayBasicsTests {
    /// Every route of the issue, as `/openapi.json` must list it.
    static let routes: [(method: String, path: String)] = [
        ("get", "/healthz"), ("get", "/readyz"), ("get", "/metrics"), ("get", "/openapi.json"),
        ("post", "/v1/trees"), ("get", "/v1/trees"), ("get", "/v1/agents"), ("get", "/v1/executors"), ("get", "/v1/trees/{id}"), ("post", "/v1/trees/{id}/execute"),
        ("post", "/v1/trees/{id}/cancel"), ("post", "/v1/trees/{id}/copy"), ("post", "/v1/trees/{id}/link"),
        ("post", "/v1/trees/{id}/archive"), ("post", "/v1/trees/{id}/mixed"), ("get", "/v1/trees/{id}/events"),
        ("get", "/v1/trees/{id}/ws"), ("post", "/v1/tasks"), ("get", "/v1/tasks"), ("get", "/v1/tasks/{id}"),
        ("post", "/v1/tasks/{id}/cancel"), ("post", "/v1/tasks/{id}/reexecute"),
        ("post", "/v1/schedules"), ("get", "/v1/schedules"), ("get", "/v1/schedules/{id}"), ("delete", "/v1/schedules/{id}"),
        ("post", "/v1/schedules/{id}/pause"), ("post", "/v1/schedules/{id}/resume"), ("get", "/v1/schedules/{id}/runs"),
    ]

    @Test func publicRoutesAuthenticationAndDocument() async throws {
        try await withGateway(agents: []) { d, users in
            let health = try await users.anonymous.get("/healthz")
            #expect(health.status == 200 && health.json["status"] == "ok", "\(health)")
            let ready = try await users.anonymous.get("/readyz")
            #expect(ready.status == 200 && ready.json["status"] == "ready", "\(ready)")
            // Every master answered: one on a standalone server, each of a cluster's.
            let cluster = try await d.store.redis.isCluster()
            #expect(ready.json["redis"]?["mode"] == (cluster ? "cluster" : "standalone"), "\(ready)")
            #expect(ready.json["redis"]?["masters"]?.arrayValue?.count == (cluster ? 3 : 1), "\(ready)")

            // Every /v1 route needs a key; an unknown key is the same as none.
            for client in [users.anonymous, users.alice.with(key: "not-a-key"), users.alice.with(key: "")] {
                let answer = try await client.get("/v1/tasks")
                expectClientError(answer, 401, code: "unauthorized", "GET /v1/tasks with key \(client.key ?? "none")")
                #expect(answer.headers["www-authenticate"] == "Bearer")
                expectClientError(try await client.post("/v1/trees", echoTree("x")), 401, code: "unauthorized", "POST without key")
            }
            // Not a bearer scheme.
            let basic = try await users.anonymous.get("/v1/tasks", headers: ["Authorization": "Basic YWxpY2Uta2V5Og=="])
            expectClientError(basic, 401, code: "unauthorized", "Basic auth")
            // Nothing was created by the refused calls.
            #expect(try await users.admin.get("/v1/tasks").json["tasks"]?.arrayValue?.isEmpty == true)

            // Unknown route, unsupported method.
            let unknown = try await users.alice.get("/v1/nothing-here")
            expectClientError(unknown, 404, code: "not_found", "unknown route")
            let method = try await users.alice.send("DELETE", "/v1/tasks", body: nil)
            expectClientError(method, 405, code: "method_not_allowed", "DELETE /v1/tasks")
            #expect(method.headers["allow"]?.contains("GET") == true && method.headers["allow"]?.contains("POST") == true)
            let put = try await users.alice.send("PUT", "/v1/trees/some-tree", body: Data("{}".utf8))
            expectClientError(put, 405, code: "method_not_allowed", "PUT /v1/trees/{id}")

            // The document lists every route, each /v1 route with its errors.
            let document = try await users.anonymous.get("/openapi.json")
            #expect(document.status == 200, "\(document)")
            #expect(document.json["openapi"]?.stringValue?.hasPrefix("3.") == true)
            let paths = try #require(document.json["paths"]?.objectValue)
            for route in Self.routes {
                let operation = paths[route.path]?[route.method]
                #expect(operation != nil, "openapi.json lacks \(route.method.uppercased()) \(route.path)")
                if route.path.hasPrefix("/v1") {
                    #expect(operation?["responses"]?["401"] != nil, "\(route.path) documents no 401")
                }
                if route.path.contains("{id}") {
                    #expect(operation?["responses"]?["404"] != nil, "\(route.path) documents no 404")
                }
            }
            #expect(paths.count == Set(Self.routes.map(\.path)).count, "unexpected paths: \(paths.keys.sorted())")
            #expect(document.json["components"]?["schemas"]?["Error"] != nil)
            _ = d
        }
    }

    @Test func metricsCountRequestsByRouteAndStatus() async throws {
        try await withGateway(agents: []) { _, users in
            _ = try await users.alice.get("/v1/tasks")
            _ = try await users.alice.get("/v1/tasks")
            _ = try await users.alice.get("/v1/tasks/missing-task")
            _ = try await users.anonymous.get("/v1/tasks")
            let page = try await users.anonymous.get("/metrics")
            #expect(page.status == 200)
            #expect(page.headers["content-type"]?.hasPrefix("text/plain") == true)
            let text = page.text
            #expect(metricValue(text, "baton_gateway_http_requests_total",
                                labels: ["method": "GET", "route": "/v1/tasks", "status": "200"]) == 2, "\(text)")
            #expect(metricValue(text, "baton_gateway_http_requests_total",
                                labels: ["method": "GET", "route": "/v1/tasks/{id}", "status": "404"]) == 1, "\(text)")
            #expect(metricValue(text, "baton_gateway_http_requests_total",
                                labels: ["route": "/v1/tasks", "status": "401"]) == 1, "\(text)")
            #expect(metricValue(text, "baton_gateway_http_request_duration_seconds_count",
                                labels: ["method": "GET", "route": "/v1/tasks"]) == 3, "\(text)")
            #expect(text.contains("baton_gateway_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/tasks\",le=\"+Inf\"} 3"))
            #expect(text.contains("# TYPE baton_gateway_sse_clients gauge"))
            #expect(text.contains("baton_gateway_tree_readers 0"))
        }
    }
}
