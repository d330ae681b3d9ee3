import BatonCore
import Foundation
import Testing

@testable import BatonAgent

@Suite("rest_executor")
struct RestExecutorTests {
    let server: LoopbackHTTPServer

    init() throws {
        server = try LoopbackHTTPServer()
    }

    /// Loopback is private: these tests admit 127.0.0.1 explicitly, as `agent.rest_allow: [127.0.0.1]` does.
    private func loopbackExecutor(maxResponseBytes: Int = RestExecutor.standardMaxResponseBytes) async throws -> RestExecutor {
        RestExecutor(policy: try await RestPolicy.make(allow: ["127.0.0.1"], protecting: []), maxResponseBytes: maxResponseBytes)
    }

    private func run(_ inputs: JSONValue, context: ExecutionContext = executorTestContext()) async throws -> JSONValue {
        try await loopbackExecutor().execute(inputs: inputs, context: context)
    }

    private func failure(_ inputs: JSONValue, _ executor: RestExecutor? = nil) async throws -> ExecutorFailure? {
        let chosen: RestExecutor
        if let executor { chosen = executor } else { chosen = try await loopbackExecutor() }
        return await expectExecutorFailure(chosen, inputs)
    }

    // MARK: Requests

    @Test func getParsesJSONAndSendsQueryAndHeaders() async throws {
        defer { server.stop() }
        let result = try await run([
            "url": .string(server.url("/echo?fixed=1")),
            "headers": ["X-Token": "abc"],
            "query": ["q": "a b&c", "n": 3, "tag": ["x", "y"]],
        ])
        #expect(result["status_code"] == 200)
        #expect(result["method"] == "GET")
        #expect(result["headers"]?["content-type"] == "application/json")
        #expect(result["headers"]?["x-test-server"] == "loopback")
        #expect(result["url"]?.stringValue?.hasPrefix(server.url("/echo?fixed=1&")) == true)
        let echoed = try #require(result["json"])
        #expect(echoed["method"] == "GET")
        #expect(echoed["query"] == ["fixed": "1", "q": "a b&c", "n": "3", "tag": ["x", "y"]])
        #expect(echoed["headers"]?["x-token"] == "abc")
        #expect(echoed["headers"]?["host"] == .string("127.0.0.1:\(server.port)"))
        #expect(result["text"] == nil)
    }

    @Test func paramsIsAnAliasOfQuery() async throws {
        defer { server.stop() }
        let result = try await run(["url": .string(server.url("/echo")), "params": ["page": 2]])
        #expect(result["json"]?["query"] == ["page": "2"])
    }

    @Test func postsJSON() async throws {
        defer { server.stop() }
        let result = try await run([
            "url": .string(server.url("/echo")), "method": "post", "json": ["name": "baton", "n": [1, 2]],
        ])
        #expect(result["method"] == "POST")
        let echoed = try #require(result["json"])
        #expect(echoed["method"] == "POST")
        #expect(echoed["headers"]?["content-type"] == "application/json")
        let body = try JSONValue(parsing: try #require(echoed["body"]?.stringValue))
        #expect(body == ["name": "baton", "n": [1, 2]])
    }

    @Test func sendsARawBody() async throws {
        defer { server.stop() }
        let result = try await run([
            "url": .string(server.url("/echo")), "method": "PUT", "body": "plain words",
            "headers": ["Content-Type": "text/plain"],
        ])
        #expect(result["json"]?["method"] == "PUT")
        #expect(result["json"]?["body"] == "plain words")
        #expect(result["json"]?["headers"]?["content-type"] == "text/plain")
    }

    @Test func nonJSONBodyIsText() async throws {
        defer { server.stop() }
        let result = try await run(["url": .string(server.url("/text"))])
        #expect(result["text"] == "hello")
        #expect(result["json"] == nil)
    }

    @Test func notFoundFailsWithTheStatus() async throws {
        defer { server.stop() }
        let failure = try await failure(["url": .string(server.url("/missing"))])
        #expect(failure?.message == "HTTP 404")
        #expect(failure?.partialResult?["status_code"] == 404)
        #expect(failure?.partialResult?["json"] == ["error": "not found"])
    }

    @Test(arguments: ["not a url", "ftp://127.0.0.1/file", "/relative/path", "http://"])
    func badURLNamesTheField(_ address: String) async throws {
        defer { server.stop() }
        let failure = try await failure(["url": .string(address)])
        #expect(failure?.message.hasPrefix("inputs.url must be an absolute http or https URL") == true)
    }

    @Test func badInputsNameTheField() async throws {
        defer { server.stop() }
        let url = JSONValue.string(server.url("/echo"))
        let missing = try await failure(.emptyObject)
        #expect(missing?.message == "inputs.url is required and must be a non-empty string")
        let both = try await failure(["url": url, "json": [1], "body": "x"])
        #expect(both?.message == "inputs.json and inputs.body cannot both be given")
        let method = try await failure(["url": url, "method": "GE T"])
        #expect(method?.message.hasPrefix("inputs.method must be an HTTP method") == true)
        let host = try await failure(["url": url, "headers": ["Host": "redis.internal"]])
        #expect(host?.message == "inputs.headers.Host is set by the agent and cannot be given")
        let injected = try await failure(["url": url, "headers": ["X-A": "1\r\nX-B: 2"]])
        #expect(injected?.message == "inputs.headers.X-A must not contain CR, LF or NUL")
        let name = try await failure(["url": url, "headers": ["X A": "1"]])
        #expect(name?.message == "inputs.headers: 'X A' is not a valid header name")
    }

    @Test(arguments: [JSONValue.double(1e300), .int(0), .double(-3), .double(.nan), .string("30")])
    func outOfRangeTimeoutsAreRefusedWithoutACrash(_ timeout: JSONValue) async throws {
        defer { server.stop() }
        let failure = try await failure(["url": .string(server.url("/echo")), "timeout_s": timeout])
        #expect(failure?.message == "inputs.timeout_s must be more than 0 and at most 604800")
    }

    // MARK: Destinations

    @Test(arguments: [
        "127.0.0.1", "10.0.0.1", "169.254.169.254", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "127.1",
        "2130706433", "0x7f.0.0.1", "0.0.0.0", "[::]", "localhost", "100.64.0.1", "172.16.0.1", "192.168.1.1",
        "[fe80::1]", "[fc00::1]", "[fd12:3456::1]", "224.0.0.1", "255.255.255.255", "[64:ff9b::a00:1]", "[2002:a00:1::1]",
    ])
    func privateDestinationsAreRefusedByDefault(_ host: String) async throws {
        defer { server.stop() }
        let clock = ContinuousClock()
        let start = clock.now
        let failure = await expectExecutorFailure(
            RestExecutor(), ["url": .string("http://\(host):\(server.port)/echo"), "timeout_s": 20])
        #expect(failure?.message == "destination not allowed or unreachable: \(host)")
        #expect(start.duration(to: clock.now) < .seconds(10), "refused before any connection is tried")
    }

    @Test func oneMessageForRefusedClosedAndProtectedDestinations() async throws {
        let open = server.url("/echo")
        let other = try LoopbackHTTPServer()
        let closedURL = other.url("/echo")
        other.stop()
        defer { server.stop() }

        let refused = await expectExecutorFailure(RestExecutor(), ["url": .string(open)])
        let closed = try await failure(["url": .string(closedURL), "timeout_s": 5])
        // A live server on a protected port (as the agent's Redis is), although 127.0.0.1 is admitted.
        let protected = RestExecutor(policy: try await RestPolicy.make(
            allow: ["127.0.0.1"], protecting: [(host: "127.0.0.1", port: server.port)]))
        let guarded = await expectExecutorFailure(protected, ["url": .string(open)])
        let silent = try await failure(["url": .string(server.url("/slow")), "timeout_s": 0.5])

        let expected = "destination not allowed or unreachable: 127.0.0.1"
        #expect(refused?.message == expected)
        #expect(closed?.message == expected)
        #expect(guarded?.message == expected)
        #expect(silent?.message == expected, "no answer within the timeout looks like any unreachable destination")
    }

    @Test func theAgentsRedisIsNeverCalledEvenWhenEverythingIsAdmitted() async throws {
        defer { server.stop() }
        let redis = try testRedisEndpoint()
        let executor = RestExecutor(policy: try await RestPolicy.make(
            allow: ["0.0.0.0/0", "::/0", "localhost", redis.host], protecting: [redis]))
        for host in [redis.host, "127.0.0.1", "localhost", "0.0.0.0", "[::ffff:127.0.0.1]", "127.0.0.2"] {
            let failure = await expectExecutorFailure(
                executor, ["url": .string("http://\(host):\(redis.port)/"), "method": "SET", "timeout_s": 5])
            #expect(failure?.message == "destination not allowed or unreachable: \(host)")
        }
        // Other ports of the same host stay callable.
        let result = try await executor.execute(inputs: ["url": .string(server.url("/text"))], context: executorTestContext())
        #expect(result["text"] == "hello")
    }

    // MARK: Redirects

    @Test func redirectsAreFollowedAndEachTargetIsChecked() async throws {
        defer { server.stop() }
        let result = try await run(["url": .string(server.url("/redirect?to=/echo%3Fstep%3D2"))])
        #expect(result["status_code"] == 200)
        #expect(result["url"] == .string(server.url("/echo?step=2")))
        #expect(result["json"]?["query"] == ["step": "2"])
    }

    @Test(arguments: ["127.0.0.2", "[::1]", "169.254.169.254", "10.0.0.1", "[::ffff:127.0.0.2]"])
    func aRedirectToARefusedDestinationFails(_ host: String) async throws {
        defer { server.stop() }
        let target = "http://\(host):\(server.port)/echo"
        let failure = try await failure([
            "url": .string(server.url("/redirect?to=" + target.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)),
            "timeout_s": 20,
        ])
        #expect(failure?.message == "destination not allowed or unreachable: \(host)")
    }

    @Test func aRedirectToTheAgentsRedisFails() async throws {
        defer { server.stop() }
        let redis = try testRedisEndpoint()
        let executor = RestExecutor(policy: try await RestPolicy.make(allow: ["127.0.0.1", redis.host], protecting: [redis]))
        let target = "http://\(redis.host):\(redis.port)/"
        let failure = await expectExecutorFailure(executor, [
            "url": .string(server.url("/redirect?status=307&to=" + target.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)),
            "method": "POST", "body": "SET probe 1\r\n",
        ])
        #expect(failure?.message == "destination not allowed or unreachable: \(redis.host)")
    }

    @Test func atMostFiveRedirects() async throws {
        defer { server.stop() }
        let failure = try await failure(["url": .string(server.url("/loop"))])
        #expect(failure?.message == "too many redirects (more than 5)")
    }

    @Test func seeOtherTurnsAPostIntoAGetAndTemporaryRedirectKeepsIt() async throws {
        defer { server.stop() }
        let seeOther = try await run(["url": .string(server.url("/redirect?status=303&to=/echo")), "method": "POST", "body": "x"])
        #expect(seeOther["json"]?["method"] == "GET")
        #expect(seeOther["json"]?["body"] == "")
        let temporary = try await run(["url": .string(server.url("/redirect?status=307&to=/echo")), "method": "POST", "body": "x"])
        #expect(temporary["json"]?["method"] == "POST")
        #expect(temporary["json"]?["body"] == "x")
    }

    @Test func credentialsDoNotFollowARedirectToAnotherOrigin() async throws {
        let other = try LoopbackHTTPServer()
        defer { server.stop(); other.stop() }
        let target = other.url("/echo").addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let result = try await run([
            "url": .string(server.url("/redirect?to=\(target)")),
            "headers": ["Authorization": "Bearer secret", "X-Kept": "yes"],
        ])
        #expect(result["json"]?["headers"]?["authorization"] == nil)
        #expect(result["json"]?["headers"]?["x-kept"] == "yes")
        #expect(result["json"]?["headers"]?["host"] == .string("127.0.0.1:\(other.port)"))
    }

    // MARK: Limits

    @Test func aBodyOverTheLimitFailsTheTask() async throws {
        defer { server.stop() }
        let executor = try await loopbackExecutor(maxResponseBytes: 1024)
        let exact = try await executor.execute(inputs: ["url": .string(server.url("/bytes?n=1024"))], context: executorTestContext())
        #expect(exact["text"]?.stringValue?.utf8.count == 1024)

        let declared = try await failure(["url": .string(server.url("/bytes?n=2048"))], executor)
        #expect(declared?.message == "response body is 2048 bytes; agent.rest_max_response_bytes allows 1024")
        let streamed = try await failure(["url": .string(server.url("/stream?n=5000"))], executor)
        #expect(streamed?.message == "response body is larger than agent.rest_max_response_bytes (1024 bytes)")
    }

    @Test func connectionRefusedIsUnreachable() async throws {
        let url = server.url("/echo")
        server.stop()
        let failure = try await failure(["url": .string(url), "timeout_s": 5])
        #expect(failure?.message == "destination not allowed or unreachable: 127.0.0.1")
    }

    @Test func aTimeoutAfterTheResponseHeadIsATimeout() async throws {
        defer { server.stop() }
        let clock = ContinuousClock()
        let start = clock.now
        let failure = try await failure(["url": .string(server.url("/slow-body")), "timeout_s": 0.5])
        #expect(start.duration(to: clock.now) < .seconds(12))  // the server never sends the rest
        #expect(failure?.message == "request to \(server.url("/slow-body")) timed out after 0.5 s")
    }

    @Test func cancellationCancelsTheRequest() async throws {
        defer { server.stop() }
        let flag = CancellationFlag()
        let canceller = setFlag(flag, after: 0.3)
        let clock = ContinuousClock()
        let start = clock.now
        let failure = await expectExecutorFailure(
            try await loopbackExecutor(), ["url": .string(server.url("/slow"))], context: executorTestContext(cancellation: flag))
        await canceller.value
        #expect(start.duration(to: clock.now) < .seconds(12))  // the server answers after 30 s
        #expect(failure?.message == "cancelled")
    }
}

@Suite("rest_executor destination policy")
struct RestPolicyTests {
    @Test(arguments: ["not a host!", "10.0.0.1/8", "10.0.0.0/33", "*.example.com", "300.1.1.1", "", "fd00::1/129", "a..b"])
    func badEntriesNameTheKey(_ entry: String) async {
        let error = await #expect(throws: AgentSetupError.self) { try await RestPolicy.make(allow: [entry], protecting: []) }
        #expect(error?.key == "agent.rest_allow")
        #expect(error?.reason.hasPrefix("'\(entry)' is not a host name, an IP address or a range") == true)
    }

    @Test func rangesHostsAndDefaults() async throws {
        let policy = try await RestPolicy.make(allow: ["10.1.0.0/16", "fd00::/8", "api.internal.", "192.168.5.7"], protecting: [])
        func permits(_ address: String, host: String = "x.example") -> Bool {
            policy.permits(IPAddress(address)!, host: host, port: 80)
        }
        #expect(permits("10.1.200.3"))
        #expect(!permits("10.2.0.1"))
        #expect(permits("fd00::5"))
        #expect(!permits("fc00::5"))
        #expect(permits("192.168.5.7"))
        #expect(!permits("192.168.5.8"))
        #expect(permits("10.9.9.9", host: "API.internal"), "a listed host is admitted whatever it resolves to")
        #expect(permits("::ffff:10.1.0.1"), "an IPv4-mapped address is judged as its IPv4 address")
        #expect(!permits("::ffff:10.2.0.1"))
        #expect(permits("93.184.216.34"))
        #expect(permits("2606:2800:220:1:248:1893:25c8:1946"))
        #expect(!permits("100.127.255.255"))
        #expect(!permits("ff02::1"))
    }

    @Test func addressParsingIsStrict() {
        #expect(IPAddress("127.1") == nil)
        #expect(IPAddress("[::1]") == .v6(1))
        #expect(IPAddress("::ffff:127.0.0.1")?.embeddedV4 == 0x7F00_0001)
        #expect(IPAddress("2002:c000:0204::1")?.embeddedV4 == 0xC000_0204)
        #expect(IPAddress("10.0.0.1")?.description == "10.0.0.1")
        #expect(IPAddress("fe80::1")?.urlHost == "[fe80::1]")
        #expect(AddressRange("0.0.0.0/0")?.contains(IPAddress("8.8.8.8")!) == true)
        #expect(AddressRange("::/0")?.contains(IPAddress("8.8.8.8")!) == false)
    }
}

/// Host and port of the Redis the suite runs against (`BATON_REDIS_URL`, set by `scripts/test`).
func testRedisEndpoint() throws -> (host: String, port: Int) {
    struct NoRedis: Error, CustomStringConvertible {
        var description: String { "BATON_REDIS_URL must name a redis:// URL: run the suite with scripts/test" }
    }
    guard let text = ProcessInfo.processInfo.environment["BATON_REDIS_URL"],
          let components = URLComponents(string: text), components.scheme == "redis",
          let host = components.host, let port = components.port else { throw NoRedis() }
    return (host, port)
}
