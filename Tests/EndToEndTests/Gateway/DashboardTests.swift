import BatonCore
import Foundation
import Testing

/// Issue 11, item 5: the web dashboard. Its sign-in and CSRF rules over raw HTTP, then the real
/// thing in headless Chromium (`scripts/lib/browser_check.py`): sign in, open a running tree,
/// see tasks turn `completed` live, cancel one, with no JavaScript error on the console.
@Suite("Dashboard")
struct DashboardTests {
    /// One HTTP/1.1 exchange on its own connection: status, headers (lower-cased names), body.
    struct Exchange {
        var status: Int
        var headers: [String: String]
        var body: String
    }

    func exchange(_ port: Int, _ method: String, _ path: String, headers: [String: String] = [:], body: String = "") async throws -> Exchange {
        let connection = try RawConnection(port: port)
        defer { connection.close() }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: \(body.utf8.count)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        try await connection.send(head + "\r\n" + body)
        let bytes = try #require(await connection.readToEnd(timeout: .seconds(10)), "no answer to \(method) \(path)")
        let text = String(decoding: bytes, as: UTF8.self)
        let parts = text.components(separatedBy: "\r\n\r\n")
        let lines = parts[0].components(separatedBy: "\r\n")
        let status = Int(lines[0].split(separator: " ").dropFirst().first ?? "") ?? 0
        var fields: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Exchange(status: status, headers: fields, body: parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    @Test func signInGivesAnHttpOnlyCookieAndWritesNeedTheCSRFToken() async throws {
        try await withGateway(agents: []) { d, users in
            let port = users.alice.port
            // Pages without a session lead to the form; the form itself is public.
            #expect(try await exchange(port, "GET", "/dashboard").headers["location"] == "/dashboard/login")
            let form = try await exchange(port, "GET", "/dashboard/login")
            #expect(form.status == 200 && form.body.contains("name=\"api_key\""))
            #expect(form.headers["content-security-policy"]?.contains("default-src 'self'") == true)
            // A wrong key goes back to the form; a right one gets the cookie.
            let formType = ["Content-Type": "application/x-www-form-urlencoded"]
            let huge = try await exchange(port, "POST", "/dashboard/login", headers: formType, body: "api_key=" + String(repeating: "k", count: 9000))
            #expect(huge.status == 413 && huge.headers["set-cookie"] == nil, "a form larger than 8 KiB: \(huge.status)")
            let wrong = try await exchange(port, "POST", "/dashboard/login", headers: formType, body: "api_key=nope")
            #expect(wrong.status == 303 && wrong.headers["location"] == "/dashboard/login?error=1" && wrong.headers["set-cookie"] == nil)
            let signedIn = try await exchange(port, "POST", "/dashboard/login", headers: formType, body: "api_key=alice-key")
            #expect(signedIn.status == 303 && signedIn.headers["location"] == "/dashboard")
            let cookie = try #require(signedIn.headers["set-cookie"], "\(signedIn)")
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "\(cookie)")
            #expect(!cookie.contains("alice-key"), "the key itself is never handed back")
            let session = ["Cookie": String(cookie.split(separator: ";")[0])]

            // The page carries the CSRF token; the API answers to the cookie.
            let page = try await exchange(port, "GET", "/dashboard", headers: session)
            #expect(page.status == 200, "\(page.status) \(page.body.prefix(200))")
            let csrf = try #require(page.body.firstMatch(of: /name="baton-csrf" content="([0-9a-f]{64})"/)?.1).description
            _ = try await users.alice.createTree(#"[{"id": "dash", "name": "dash", "executor": "echo_executor"}]"#)
            let trees = try await exchange(port, "GET", "/v1/trees", headers: session)
            #expect(trees.status == 200 && trees.body.contains("\"dash\""), "\(trees.status) \(trees.body)")
            let tree = try await exchange(port, "GET", "/dashboard/trees/dash", headers: session)
            #expect(tree.body.contains("data-tree-id=\"dash\""))
            let escaped = try await exchange(port, "GET", "/dashboard/trees/%3Cscript%3E", headers: session)
            #expect(!escaped.body.contains("<script>") && escaped.body.contains("&lt;script&gt;"), "the tree id is escaped")

            // A write with the cookie but without the token is refused, and changes nothing.
            let json = ["Content-Type": "application/json"]
            let forged = try await exchange(port, "POST", "/v1/trees/dash/cancel", headers: session.merging(json) { $1 }, body: "{}")
            #expect(forged.status == 403 && forged.body.contains("X-Baton-CSRF"), "\(forged.status) \(forged.body)")
            #expect(try await d.store.task("dash", userID: nil).status == .pending)
            let allowed = try await exchange(port, "POST", "/v1/trees/dash/cancel",
                                             headers: session.merging(json) { $1 }.merging(["X-Baton-CSRF": csrf]) { $1 }, body: "{}")
            #expect(allowed.status == 200, "\(allowed.status) \(allowed.body)")
            #expect(try await d.store.task("dash", userID: nil).status == .cancelled)

            // Signing out ends the session.
            let out = try await exchange(port, "POST", "/dashboard/logout", headers: session.merging(["X-Baton-CSRF": csrf]) { $1 })
            #expect(out.status == 204)
            #expect(try await exchange(port, "GET", "/v1/trees", headers: session).status == 401)
            #expect(try await exchange(port, "GET", "/dashboard/static/app.js").headers["content-type"]?.hasPrefix("text/javascript") == true)
        }
    }

    /// The dashboard in a real browser. Chromium comes from Debian's packages (`scripts/test`
    /// installs it); the checker drives it over the DevTools protocol.
    @Test func aRunningTreeUpdatesLiveInABrowser() async throws {
        // Wherever `scripts/test` found or installed it: the first on PATH.
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"
        let chromium = path.split(separator: ":").flatMap { directory in ["chromium", "chromium-browser"].map { "\(directory)/\($0)" } }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
        try #require(chromium != nil, "Chromium is missing: scripts/test installs it (apt-get install chromium)")
        try await withGateway(agents: [AgentSpec(concurrency: 3)]) { d, users in
            var tasks = [#"{"id": "live", "name": "live", "executor": "echo_executor"}"#]
            for index in 0..<24 {
                tasks.append(#"{"id": "step-\#(index)", "name": "step-\#(index)", "executor": "sleep_executor", "parent_id": "live", "inputs": {"seconds": 0.4}}"#)
            }
            tasks.append(#"{"id": "victim", "name": "victim", "executor": "sleep_executor", "parent_id": "live", "priority": 0, "inputs": {"seconds": 60}}"#)
            _ = try await users.alice.createTree("[" + tasks.joined(separator: ",") + "]")
            let output = FileManager.default.temporaryDirectory.appendingPathComponent("baton-dashboard-\(d.namespace)").path
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [
                "python3", "scripts/lib/browser_check.py", "--base", "http://127.0.0.1:\(users.alice.port)",
                "--api-key", "alice-key", "--tree", "live", "--cancel-task", "victim", "--expect-completed", "20",
                "--out", output, "--chromium", chromium!, "--timeout", "90",
            ]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            // Read and wait off the cooperative pool (two threads on this machine).
            let text = await withCheckedContinuation { continuation in
                DispatchQueue.global().async {
                    let data = pipe.fileHandleForReading.readDataToEndOfFile()
                    process.waitUntilExit()
                    continuation.resume(returning: String(decoding: data, as: UTF8.self))
                }
            }
            let summary = text.split(separator: "\n").last.flatMap { try? JSONValue(parsing: String($0)) } ?? .null
            #expect(process.terminationStatus == 0 && summary["ok"]?.boolValue == true, "browser check failed:\n\(text)\n\(d.diagnostics())")
            #expect(summary["console_errors"]?.arrayValue?.isEmpty == true, "\(text)")
            print("dashboard screenshots: \(summary["screenshots"]?.jsonString() ?? "none"); timings \(summary["timings_ms"]?.jsonString() ?? "")")
            #expect(try await d.store.task("victim", userID: nil).status == .cancelled)
        }
    }
}
