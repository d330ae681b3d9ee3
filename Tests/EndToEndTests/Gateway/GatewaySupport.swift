import BatonCore
import Foundation
import Testing

/// The gateway's clients in a test: alice and bob (users) and root (admin), plus one without a key.
struct GatewayUsers: Sendable {
    let alice: GatewayClient
    let bob: GatewayClient
    let admin: GatewayClient
    let anonymous: GatewayClient

    init(base: String) {
        alice = GatewayClient(base: base, key: "alice-key")
        bob = GatewayClient(base: base, key: "bob-key")
        admin = GatewayClient(base: base, key: "admin-key")
        anonymous = GatewayClient(base: base, key: nil)
    }

    var base: String { alice.base }
    var port: Int { alice.port }
}

/// A deployment with a gateway (keys `alice-key=alice,bob-key=bob,admin-key=root:admin`).
func withGateway<T>(
    agents: [AgentSpec] = [AgentSpec()],
    environment: [String: String] = [:],
    _ body: (Deployment, GatewayUsers) async throws -> T
) async throws -> T {
    try await withDeployment(agents: agents, environment: environment) { d in
        let base = try await d.startGateway()
        return try await body(d, GatewayUsers(base: base))
    }
}

/// Status codes of the gateway's routes are never 5xx for bad input.
func expectClientError(_ answer: HTTPAnswer, _ status: Int? = nil, code: String? = nil, _ what: String,
                       sourceLocation: SourceLocation = #_sourceLocation) {
    #expect((400..<500).contains(answer.status), "\(what): \(answer)", sourceLocation: sourceLocation)
    if let status { #expect(answer.status == status, "\(what): \(answer)", sourceLocation: sourceLocation) }
    if let code { #expect(answer.errorCode == code, "\(what): \(answer)", sourceLocation: sourceLocation) }
    #expect(answer.json["error"]?["message"]?.stringValue?.isEmpty == false, "\(what): no error message: \(answer)",
            sourceLocation: sourceLocation)
}

/// A simple two-level tree of echo tasks: `<prefix>-root` with children `-a` and `-b` (b depends on a).
func echoTree(_ prefix: String, executor: String = "echo_executor") -> String {
    """
    [{"id": "\(prefix)-root", "name": "root", "executor": "\(executor)", "inputs": {"ret": "root"}},
     {"id": "\(prefix)-a", "name": "a", "parent_id": "\(prefix)-root", "executor": "\(executor)", "inputs": {"ret": "a"}},
     {"id": "\(prefix)-b", "name": "b", "parent_id": "\(prefix)-root", "executor": "\(executor)", "dependencies": ["\(prefix)-a"]}]
    """
}

/// The counter or gauge `name{labels}` in a Prometheus text page (0 when absent).
func metricValue(_ page: String, _ name: String, labels: [String: String] = [:]) -> Double {
    var total = 0.0
    for line in page.split(separator: "\n") where !line.hasPrefix("#") {
        guard line.hasPrefix(name + "{") || line.hasPrefix(name + " ") else { continue }
        let matches = labels.allSatisfy { line.contains("\($0.key)=\"\($0.value)\"") }
        if matches, let value = line.split(separator: " ").last.flatMap({ Double($0) }) { total += value }
    }
    return total
}
