import BatonCore
import BatonStore
import Foundation
import RedisClient
import Testing

/// A bounded hostile-input run against a running stack (issue 8, item 7): seeded random
/// mutations of valid requests sent to every route and to the Redis-native entry. No answer may be
/// a 5xx, every native entry must be answered, and every Baton process must be alive afterwards.
@Suite("Hostile input")
struct HostileInputTests {
    static let seeds = [
        #"[{"id": "h-root", "name": "root", "executor": "echo_executor", "priority": 1, "inputs": {"ret": [1, "x"]}, "timeout_s": 5}, {"name": "kid", "executor": "sleep_executor", "parent_id": "h-root", "dependencies": [{"id": "h-root", "required": false}], "inputs": {"seconds": 0.01}, "max_attempts": 2, "backoff": {"strategy": "exponential", "base_s": 0.1}}]"#,
        #"{"tasks": [{"name": "solo", "executor": "fail_executor", "params": {"executor_id": "echo_executor"}}], "execute": false}"#,
        #"{"message": "stop", "include_completed": true, "overrides": {"priority": 0, "inputs": {"a": 1}}, "task_ids": ["h-root"]}"#,
    ]

    /// Values that broke something once, or that sit on a boundary.
    static let nasty: [String] = [
        "1e300", "-1e300", "9223372036854775807", "-9223372036854775808", "18446744073709551616", "0", "-0", "0.0000001",
        "604801", "1e-320", "null", "true", "\"\"", "\"}\"", "\"{t:x}\"", "\"a\\u0000b\"", "\"\\ud800\"", "[]", "{}",
        "\"ax}:task:P\"", "\"P}:tree\"", "\"command_executor\"", "\"rest_executor\"", "[[[[[[[[[[[[]]]]]]]]]]]]",
        "\"" + String(repeating: "x", count: 300) + "\"",
    ]

    static func mutate(_ text: String, _ random: inout SplitMix64) -> [UInt8] {
        var bytes = Array(text.utf8)
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            guard !bytes.isEmpty else { break }
            let position = Int.random(in: 0..<bytes.count, using: &random)
            switch Int.random(in: 0..<6, using: &random) {
            case 0:  // replace a scalar value after a colon with a nasty one
                if let colon = bytes[position...].firstIndex(of: UInt8(ascii: ":")) {
                    let end = bytes[(colon + 1)...].firstIndex { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "}") } ?? bytes.count
                    bytes.replaceSubrange((colon + 1)..<end, with: Array(nasty.randomElement(using: &random)!.utf8))
                }
            case 1: bytes.remove(at: position)
            case 2: bytes.insert(UInt8.random(in: 0...255, using: &random), at: position)
            case 3: bytes[position] = [UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "["), UInt8(ascii: "\""), 0xFF, 0x00].randomElement(using: &random)!
            case 4: bytes.insert(contentsOf: Array(nasty.randomElement(using: &random)!.utf8), at: position)
            default: bytes = Array(bytes[..<position])
            }
        }
        return bytes
    }

    @Test(arguments: [UInt64(8)])
    func randomHostileRequestsNeverBreakAService(seed: UInt64) async throws {
        try await withGateway { d, users in
            _ = try await users.alice.createTree(Self.seeds[0])
            var random = SplitMix64(seed: seed)
            let routes = ["/v1/trees", "/v1/tasks", "/v1/trees/h-root/cancel", "/v1/trees/h-root/copy", "/v1/trees/h-root/link",
                          "/v1/trees/h-root/mixed", "/v1/trees/h-root/archive", "/v1/trees/h-root/execute",
                          "/v1/tasks/h-root/cancel", "/v1/tasks/h-root/reexecute"]
            let reads = ["/v1/tasks?cursor=", "/v1/tasks?limit=", "/v1/tasks?status=", "/v1/trees/", "/v1/tasks/",
                         "/v1/trees/h-root/events?after=", "/v1/tasks?tree_id="]
            var serverErrors: [String] = []
            for round in 0..<240 {
                let client = [users.alice, users.bob, users.admin].randomElement(using: &random)!
                let answer: HTTPAnswer
                let what: String
                if round % 3 == 2 {
                    let value = Self.mutate(Self.nasty.randomElement(using: &random)!, &random)
                    let escaped = value.map { String(format: "%%%02X", $0) }.joined()
                    let path = reads.randomElement(using: &random)! + escaped
                    what = "GET \(path)"
                    answer = try await client.get(path)
                } else {
                    let route = routes.randomElement(using: &random)!
                    let body = Self.mutate(Self.seeds.randomElement(using: &random)!, &random)
                    what = "POST \(route) \(String(decoding: body.prefix(200), as: UTF8.self))"
                    answer = try await client.send("POST", route, body: Data(body))
                }
                if answer.status >= 500 { serverErrors.append("\(what) → \(answer)") }
            }
            #expect(serverErrors.isEmpty, "seed \(seed): \(serverErrors.prefix(5))")

            // The same mutations as Redis-native submissions: each is answered, none stops a scheduler.
            var entries: [String] = []
            for _ in 0..<60 {
                let body = Self.mutate(Self.seeds[Int.random(in: 0...1, using: &random)], &random)
                var fields: [[UInt8]] = [Array("tasks".utf8), body]
                if Bool.random(using: &random) { fields += [Array("user_id".utf8), Self.mutate("alice", &random)] }
                if Bool.random(using: &random) { fields += [Array("execute".utf8), Self.mutate("true", &random)] }
                let command = RedisCommand(bytes: [Array("XADD".utf8), Array(d.store.keys.submissions.utf8), Array("*".utf8)] + fields)
                entries.append(try #require(try await d.store.redis.send(command).string))
            }
            let sent = Set(entries)
            try await d.waitUntil("every hostile native entry answered", timeout: .seconds(30)) {
                let results = try await d.store.redis.send("XRANGE", d.store.keys.submissionResults, "-", "+")
                let answered = Set((results.array ?? []).compactMap { entry -> String? in
                    let fields = (entry.array?.last?.array ?? []).map { $0.string ?? "" }
                    return fields.firstIndex(of: "entry_id").flatMap { $0 + 1 < fields.count ? fields[$0 + 1] : nil }
                })
                return sent.isSubset(of: answered)
            }
            #expect(try await users.anonymous.get("/healthz").status == 200)
            expectAllAlive(d)
        }
    }
}
