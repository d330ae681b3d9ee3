import BatonCore
import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// An HTTP answer of the gateway.
struct HTTPAnswer: Sendable, CustomStringConvertible {
    let status: Int
    /// Header names in lower case.
    let headers: [String: String]
    let body: Data

    var text: String { String(decoding: body, as: UTF8.self) }

    /// The body as JSON (`null` when it is not JSON).
    var json: JSONValue { (try? JSONValue(parsing: body)) ?? .null }

    /// `error.code` of an error answer.
    var errorCode: String? { json["error"]?["code"]?.stringValue }

    /// `error.field` of an error answer.
    var errorField: String? { json["error"]?["field"]?.stringValue }

    var description: String { "\(status) \(text.prefix(600))" }
}

/// A small client of the gateway's JSON routes: one API key, URLSession underneath.
struct GatewayClient: Sendable {
    /// `http://127.0.0.1:PORT`.
    let base: String
    /// Sent as `Authorization: Bearer <key>`; `nil` sends no key.
    let key: String?

    init(base: String, key: String?) {
        self.base = base
        self.key = key
    }

    /// The same gateway with another key.
    func with(key: String?) -> GatewayClient { GatewayClient(base: base, key: key) }

    private static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 30
        configuration.httpMaximumConnectionsPerHost = 16
        return URLSession(configuration: configuration)
    }()

    func get(_ path: String, headers: [String: String] = [:]) async throws -> HTTPAnswer {
        try await send("GET", path, body: nil, headers: headers)
    }

    func post(_ path: String, _ json: String? = nil, headers: [String: String] = [:]) async throws -> HTTPAnswer {
        try await send("POST", path, body: json.map { Data($0.utf8) }, headers: headers)
    }

    func post(_ path: String, json value: JSONValue, headers: [String: String] = [:]) async throws -> HTTPAnswer {
        try await send("POST", path, body: value.jsonData, headers: headers)
    }

    /// Any method and raw body; `path` is used as written (percent escapes and all).
    func send(_ method: String, _ path: String, body: Data?, headers: [String: String] = [:]) async throws -> HTTPAnswer {
        let url = try #require(URL(string: base + path), "not a URL: \(base + path)")
        var request = URLRequest(url: url)
        request.httpMethod = method
        if let key { request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization") }
        if let body {
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await Self.session.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        var fields: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { fields[name.lowercased()] = value }
        }
        return HTTPAnswer(status: http.statusCode, headers: fields, body: data)
    }

    /// `POST /v1/trees` with a task array; the answer must be 201.
    func createTree(_ json: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> (treeID: String, taskIDs: [String]) {
        let answer = try await post("/v1/trees", json)
        try #require(answer.status == 201, "POST /v1/trees: \(answer)", sourceLocation: sourceLocation)
        let treeID = try #require(answer.json["tree_id"]?.stringValue, sourceLocation: sourceLocation)
        let ids = answer.json["task_ids"]?.arrayValue?.compactMap(\.stringValue) ?? []
        return (treeID, ids)
    }

    /// Polls `GET /v1/trees/{id}` until the tree is completed, failed or cancelled.
    func waitForTree(_ treeID: String, timeout: Duration = .seconds(30)) async throws -> JSONValue {
        let deadline = ContinuousClock.now + timeout
        while true {
            let answer = try await get("/v1/trees/\(treeID)")
            if let status = answer.json["status"]?.stringValue, ["completed", "failed", "cancelled"].contains(status) {
                return answer.json
            }
            if ContinuousClock.now >= deadline {
                throw DeploymentError(description: "tree \(treeID) did not finish within \(timeout): \(answer)")
            }
            try await Task.sleep(for: .milliseconds(30))
        }
    }

    /// The port of ``base``.
    var port: Int { Int(base.split(separator: ":").last ?? "0") ?? 0 }
}

extension JSONValue {
    /// The tasks of a flat tree (`GET /v1/trees/{id}?flat=true`), by id.
    var tasksByID: [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for task in self["tasks"]?.arrayValue ?? [] {
            if let id = task["id"]?.stringValue { out[id] = task }
        }
        return out
    }
}
