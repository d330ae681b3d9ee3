import BatonCore
import Testing

@testable import BatonAgent

@Suite("rest_executor")
struct RestExecutorTests {
    let server: LoopbackHTTPServer

    init() throws {
        server = try LoopbackHTTPServer()
    }

    private func run(_ inputs: JSONValue, context: ExecutionContext = executorTestContext()) async throws -> JSONValue {
        try await RestExecutor().execute(inputs: inputs, context: context)
    }

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
        let failure = await expectExecutorFailure(RestExecutor(), ["url": .string(server.url("/missing"))])
        #expect(failure?.message == "HTTP 404")
        #expect(failure?.partialResult?["status_code"] == 404)
        #expect(failure?.partialResult?["json"] == ["error": "not found"])
    }

    @Test(arguments: ["not a url", "ftp://127.0.0.1/file", "/relative/path", "http://"])
    func badURLNamesTheField(_ address: String) async {
        defer { server.stop() }
        let failure = await expectExecutorFailure(RestExecutor(), ["url": .string(address)])
        #expect(failure?.message.hasPrefix("inputs.url must be an absolute http or https URL") == true)
    }

    @Test func badInputsNameTheField() async {
        defer { server.stop() }
        let missing = await expectExecutorFailure(RestExecutor(), .emptyObject)
        #expect(missing?.message == "inputs.url is required and must be a non-empty string")
        let both = await expectExecutorFailure(
            RestExecutor(), ["url": .string(server.url("/echo")), "json": [1], "body": "x"])
        #expect(both?.message == "inputs.json and inputs.body cannot both be given")
        let method = await expectExecutorFailure(
            RestExecutor(), ["url": .string(server.url("/echo")), "method": "GE T"])
        #expect(method?.message.hasPrefix("inputs.method must be an HTTP method") == true)
    }

    @Test func connectionRefusedIsAFailure() async {
        let url = server.url("/echo")
        server.stop()
        let failure = await expectExecutorFailure(RestExecutor(), ["url": .string(url), "timeout_s": 5])
        #expect(failure?.message.hasPrefix("request to \(url) failed") == true)
    }

    @Test func timeoutIsAFailure() async {
        defer { server.stop() }
        let clock = ContinuousClock()
        let start = clock.now
        let failure = await expectExecutorFailure(
            RestExecutor(), ["url": .string(server.url("/slow")), "timeout_s": 0.5])
        #expect(start.duration(to: clock.now) < .seconds(12))  // the server answers after 30 s
        #expect(failure?.message.contains("timed out after 0.5 s") == true)
    }

    @Test func cancellationCancelsTheRequest() async {
        defer { server.stop() }
        let flag = CancellationFlag()
        let canceller = setFlag(flag, after: 0.3)
        let clock = ContinuousClock()
        let start = clock.now
        let failure = await expectExecutorFailure(
            RestExecutor(), ["url": .string(server.url("/slow"))], context: executorTestContext(cancellation: flag))
        await canceller.value
        #expect(start.duration(to: clock.now) < .seconds(12))  // the server answers after 30 s
        #expect(failure?.message == "cancelled")
    }
}
