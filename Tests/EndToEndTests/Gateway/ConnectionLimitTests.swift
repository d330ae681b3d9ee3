import BatonConfig
import BatonCore
import BatonRuntime
import Foundation
import RedisClient
import Testing

/// The gateway bounds its connections (issue 8, item 5): hostile clients on raw sockets — slow
/// heads, idle keep-alives, oversized and malformed heads, too many connections, streaming
/// clients that stop reading — get Baton's JSON error answers and are closed, memory stays
/// bounded, and the gateway process lives on and answers `/healthz` after each.
@Suite("Gateway connection limits")
struct ConnectionLimitTests {
    // MARK: Timeouts

    @Test func slowlorisHeadsAreAnswered408AndClosed() async throws {
        try await withGateway(agents: [], environment: ["BATON_GATEWAY_HEADER_TIMEOUT_S": "1"]) { d, users in
            // One client drips a head, a byte every 100 ms (it would take 6 s).
            let slow = try RawConnection(port: users.port)
            let head = Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris/1.0\r\n\r\n".utf8)
            let start = ContinuousClock.now
            var sent = 0
            var received: [UInt8] = []
            drip: for byte in head {
                guard (try? await slow.send([byte])) != nil else { break }
                sent += 1
                switch await slow.read(timeout: .milliseconds(100)) {
                case .bytes(let bytes):
                    received = bytes
                    break drip
                case .closed, .reset: break drip
                case .timedOut: continue
                }
            }
            let rest = await slow.readToEnd(timeout: .seconds(5))
            let elapsed = ContinuousClock.now - start
            let answer = try #require(RawAnswer(received + (rest ?? [])), "no answer: \(received)")
            #expect(answer.status == 408 && answer.errorCode == "invalid_argument", "\(answer)")
            #expect(answer.headers["connection"] == "close" && answer.headers["content-type"] == "application/json")
            #expect(rest != nil, "the connection must be closed after the 408")
            #expect(sent < head.count, "the head was not cut short: \(sent) bytes")
            #expect(elapsed >= .milliseconds(900) && elapsed < .seconds(4), "closed after \(elapsed)")

            // A hundred more that stop in the middle of their head are all answered and closed.
            let outcomes = try await Self.concurrently(100) { _ in
                let connection = try RawConnection(port: users.port)
                try await connection.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                let bytes = await connection.readToEnd(timeout: .seconds(10))
                return bytes.flatMap { RawAnswer($0)?.status }
            }
            #expect(outcomes.allSatisfy { $0 == 408 }, "\(outcomes)")
            try await Self.expectAlive(d, users)
        }
    }

    @Test func idleKeepAliveConnectionsAreClosed() async throws {
        try await withGateway(agents: [], environment: ["BATON_GATEWAY_IDLE_TIMEOUT_S": "1.5"]) { d, users in
            // Each connection gets one answer, keeps the connection and says nothing more.
            let idleTimes = try await Self.concurrently(100) { _ in
                let connection = try RawConnection(port: users.port)
                try await connection.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                let (bytes, _) = await connection.read(until: Array("{\"status\":\"ok\"}".utf8), timeout: .seconds(10))
                let answered = ContinuousClock.now
                guard RawAnswer(bytes)?.status == 200 else { return Duration.zero }
                guard await connection.readToEnd(timeout: .seconds(10)) != nil else { return Duration.seconds(999) }
                return ContinuousClock.now - answered
            }
            // Closed after about the 1.5 s idle timeout. The lower bound is loose: on a loaded machine
            // the client may notice its answer late, which shortens the idle time it measures.
            #expect(idleTimes.allSatisfy { $0 >= .milliseconds(500) && $0 < .seconds(8) }, "idle until closed: \(idleTimes)")
            try await Self.expectAlive(d, users)
        }
    }

    // MARK: Heads

    @Test func oversizedRequestLinesAndHeadersAreAnswered414And431() async throws {
        try await withGateway(agents: []) { d, users in
            // 100 KB request line: 414 (default max_request_line_bytes 8192), closed.
            let longLine = "GET /v1/trees/" + String(repeating: "a", count: 100_000) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            let uri = try await Self.exchange(users.port, longLine)
            #expect(uri.answer?.status == 414 && uri.answer?.errorCode == "invalid_argument", "\(String(describing: uri.answer))")
            #expect(uri.closed, "closed after 414")

            // 64 KB of headers: 431 (default max_header_bytes 16384), closed.
            let manyHeaders = (0..<64).map { "X-Filler-\($0): \(String(repeating: "v", count: 1000))\r\n" }.joined()
            let fields = try await Self.exchange(users.port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\(manyHeaders)\r\n")
            #expect(fields.answer?.status == 431 && fields.answer?.errorCode == "invalid_argument", "\(String(describing: fields.answer))")
            #expect(fields.closed, "closed after 431")

            // One header line of 20 KB is the same.
            let oneLong = try await Self.exchange(
                users.port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: \(String(repeating: "v", count: 20_000))\r\n\r\n")
            #expect(oneLong.answer?.status == 431, "\(String(describing: oneLong.answer))")

            // Just under the limits, requests go through.
            let nearLine = "GET /healthz?pad=\(String(repeating: "p", count: 8000)) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            #expect(try await Self.exchange(users.port, nearLine).answer?.status == 200)
            let nearHeaders = (0..<15).map { "X-Filler-\($0): \(String(repeating: "v", count: 1000))\r\n" }.joined()
            let near = try await Self.exchange(users.port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\(nearHeaders)\r\n")
            #expect(near.answer?.status == 200, "\(String(describing: near.answer))")
            try await Self.expectAlive(d, users)
        }
    }

    @Test func malformedFramingIsAnswered400AndClosed() async throws {
        try await withGateway(agents: []) { d, users in
            let post = "POST /v1/trees HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer alice-key\r\nContent-Type: application/json\r\n"
            let cases: [(String, String)] = [
                ("duplicate Content-Length", post + "Content-Length: 2\r\nContent-Length: 40\r\n\r\n[]"),
                ("differing Content-Length values", post + "Content-Length: 2, 40\r\n\r\n[]"),
                ("Content-Length with Transfer-Encoding", post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
                ("bad chunk size", post + "Transfer-Encoding: chunked\r\n\r\nzz\r\n[]\r\n0\r\n\r\n"),
                ("space in a header name", "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: x\r\n\r\n"),
                ("control character in a header value", "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bad: a\u{01}b\r\n\r\n"),
                ("invalid character in the target", "GET /heal\u{7F}thz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
                ("not HTTP at all", "\u{16}\u{03}\u{01}\u{02}\u{00}\u{01}\u{00}\u{01}\u{FC}\u{03}\u{03}\r\n\r\n"),
            ]
            for (label, request) in cases {
                let result = try await Self.exchange(users.port, request)
                #expect(result.answer?.status == 400 && result.answer?.errorCode == "invalid_argument",
                        "\(label): \(String(describing: result.answer))")
                #expect(result.answer?.json["error"]?["message"]?.stringValue?.hasPrefix("Malformed HTTP request") == true,
                        "\(label): \(String(describing: result.answer))")
                #expect(result.closed, "\(label): the connection must be closed")
            }
            try await Self.expectAlive(d, users)
        }
    }

    // MARK: Connections

    @Test func connectionsBeyondTheMaximumAreRefused() async throws {
        try await withGateway(agents: [], environment: ["BATON_GATEWAY_MAX_CONNECTIONS": "8"]) { d, users in
            // Connections that each got an answer stay open; the harness's own client may hold one
            // or two more. Once the maximum is reached, every new connection is answered 503 and
            // closed at once.
            var held: [RawConnection] = []
            var statuses: [Int] = []
            for _ in 0..<10 {
                let connection = try RawConnection(port: users.port)
                try? await connection.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                let (bytes, _) = await connection.read(until: Array("}".utf8), timeout: .seconds(5))
                let answer = RawAnswer(bytes)
                statuses.append(answer?.status ?? 0)
                if answer?.status == 503 {
                    #expect(answer?.errorCode == "unavailable" && answer?.headers["retry-after"] != nil, "\(String(describing: answer))")
                    #expect(await connection.readToEnd(timeout: .seconds(3)) != nil, "a refused connection is closed at once")
                }
                held.append(connection)
            }
            let accepted = statuses.prefix { $0 == 200 }.count
            #expect((6...8).contains(accepted) && statuses.dropFirst(accepted).allSatisfy { $0 == 503 }, "\(statuses)")
            // Slots come back when connections close.
            for connection in held { connection.close() }
            try await d.waitUntil("a connection is accepted again") {
                try await Self.rawGet(users.port, "/healthz")?.status == 200
            }
            try await Self.expectAlive(d, users)
        }
    }

    // MARK: Streaming clients

    /// A tree to stream (it never finishes without agents; the streams follow it anyway).
    static let floodTree = #"[{"id": "flood", "name": "flood", "executor": "echo_executor"}]"#

    @Test func streamingClientsThatNeverReadAreCutOffAndMemoryStaysBounded() async throws {
        try await withGateway(agents: [], environment: ["BATON_GATEWAY_STREAM_BUFFER_BYTES": "65536"]) { d, users in
            _ = try await users.alice.createTree(Self.floodTree)
            let gateway = try Self.gateway(d)
            // Warm-up: a client that reads as fast as it can takes a first flood (or falls behind
            // it: the buffer is small), so that the tree reader's own buffers are in the baseline.
            let reader = try RawConnection(port: users.port)
            try await reader.send(RawStreams.sseRequest("/v1/trees/flood/events?follow=true", key: "alice-key"))
            try await d.waitUntil("the reading client is counted") {
                metricValue(try await users.anonymous.get("/metrics").text, "baton_gateway_sse_clients") == 1
            }
            try await Self.flood(d, "flood", events: 40_000)
            let warmUpLast = try #require(try await GatewayStreamTests.streamIDs(d, "flood").last)
            _ = await reader.read(until: Array("id: \(warmUpLast)\n".utf8), timeout: .seconds(60))
            reader.close()
            let before = try Self.rssMiB(gateway)

            // Eight WebSocket and eight SSE clients that never read, with small receive windows.
            let path = { (kind: String) in "/v1/trees/flood/\(kind)?follow=true&after=\(warmUpLast)" }
            var sockets: [RawConnection] = []
            var streams: [RawConnection] = []
            for _ in 0..<8 {
                let socket = try RawConnection(port: users.port, receiveBuffer: 4096)
                try await socket.send(RawStreams.webSocketRequest(path("ws"), key: "alice-key"))
                sockets.append(socket)
                let stream = try RawConnection(port: users.port, receiveBuffer: 4096)
                try await stream.send(RawStreams.sseRequest(path("events"), key: "alice-key"))
                streams.append(stream)
            }
            try await d.waitUntil("16 streaming clients counted") {
                let page = try await users.anonymous.get("/metrics").text
                return metricValue(page, "baton_gateway_websocket_clients") == 8 && metricValue(page, "baton_gateway_sse_clients") == 8
            }

            // 40,000 more events of about 1 KB (about 44 MB) that none of them takes.
            let sampler = Task {
                var peak = 0.0
                while !Task.isCancelled {
                    peak = max(peak, (try? Self.rssMiB(gateway)) ?? 0)
                    try? await Task.sleep(for: .milliseconds(50))
                }
                return peak
            }
            try await Self.flood(d, "flood", events: 40_000)
            try await d.waitUntil("every slow client is disconnected", timeout: .seconds(30)) {
                let page = try await users.anonymous.get("/metrics").text
                return metricValue(page, "baton_gateway_websocket_clients") == 0 && metricValue(page, "baton_gateway_sse_clients") == 0
            }
            sampler.cancel()
            let peak = max(await sampler.value, try Self.rssMiB(gateway))
            let after = try Self.rssMiB(gateway)
            let perClient = ((peak - before) / 16 * 10).rounded() / 10
            print("ConnectionLimitTests: gateway VmRSS \(before) MiB before, \(peak) MiB peak (\(perClient) MiB per client), "
                + "\(after) MiB after 44 MB of events to 8 WebSocket and 8 SSE clients that never read")
            // Unbounded, every client held every event: 1 KB or more per event and client.
            #expect(peak - before < 32, "RSS grew from \(before) to \(peak) MiB for 16 slow clients")

            // Each was closed: what reached its socket ends; it resumes after its last event.
            let ids = try await GatewayStreamTests.streamIDs(d, "flood")
            for socket in sockets.prefix(2) {
                let bytes = try #require(await socket.readToEnd(timeout: .seconds(20)), "the socket must be closed")
                let (status, rest) = try #require(RawStreams.splitHead(bytes))
                #expect(status == 101)
                let messages = RawStreams.webSocketMessages(rest).messages.map { (try? JSONValue(parsing: $0)) ?? .null }
                let lastID = try #require(messages.last(where: { $0["id"] != nil })?["id"]?.stringValue, "no event reached the client")
                #expect(lastID != ids.last, "the client must have been cut off before the end")
                let resumed = try await WebSocketClient(port: users.port, path: "/v1/trees/flood/ws?follow=true&after=\(lastID)", key: "alice-key")
                let next = try JSONValue(parsing: try #require(try await resumed.next()))
                #expect(next["id"]?.stringValue == ids[try #require(ids.firstIndex(of: lastID)) + 1])
                resumed.close()
            }
            for stream in streams.prefix(2) {
                let bytes = try #require(await stream.readToEnd(timeout: .seconds(20)), "the stream must be closed")
                let (status, rest) = try #require(RawStreams.splitHead(bytes))
                #expect(status == 200)
                let frames = RawStreams.sseFrames(RawStreams.dechunk(rest).body)
                let lastID = try #require(frames.last(where: { $0.id != nil })?.id, "no event reached the client")
                #expect(lastID != ids.last, "the client must have been cut off before the end")
                let resumed = try await SSEClient(port: users.port, path: "/v1/trees/flood/events?follow=true", key: "alice-key",
                                                  headers: ["Last-Event-ID": lastID])
                #expect(try await resumed.next()?.id == ids[try #require(ids.firstIndex(of: lastID)) + 1])
                resumed.close()
            }
            try await Self.expectAlive(d, users)
        }
    }

    @Test func aClientThatFallsBehindGetsAFinalErrorAndResumes() async throws {
        try await withGateway(agents: [], environment: ["BATON_GATEWAY_STREAM_BUFFER_BYTES": "65536"]) { d, users in
            _ = try await users.alice.createTree(Self.floodTree)
            // Slow readers: 4 KB at a time, with a pause between reads.
            let stream = try RawConnection(port: users.port, receiveBuffer: 4096)
            try await stream.send(RawStreams.sseRequest("/v1/trees/flood/events?follow=true", key: "alice-key"))
            let socket = try RawConnection(port: users.port, receiveBuffer: 4096)
            try await socket.send(RawStreams.webSocketRequest("/v1/trees/flood/ws?follow=true", key: "alice-key"))
            try await d.waitUntil("2 streaming clients counted") {
                let page = try await users.anonymous.get("/metrics").text
                return metricValue(page, "baton_gateway_websocket_clients") == 1 && metricValue(page, "baton_gateway_sse_clients") == 1
            }
            async let sseBytes = stream.read(
                until: Array("\r\n0\r\n\r\n".utf8), timeout: .seconds(60), chunk: 4096, pause: .milliseconds(2))
            async let webSocketBytes = socket.read(
                until: [0x88], timeout: .seconds(60), chunk: 4096, pause: .milliseconds(2))
            try await Self.flood(d, "flood", events: 20_000)
            let ids = try await GatewayStreamTests.streamIDs(d, "flood")

            // SSE: the events it took, then `event: error` naming the last one, then the end of the body.
            let (sse, sseEnded) = await sseBytes
            #expect(sseEnded, "the SSE body must end with its last chunk")
            let (sseStatus, sseRest) = try #require(RawStreams.splitHead(sse))
            #expect(sseStatus == 200)
            let frames = RawStreams.sseFrames(RawStreams.dechunk(sseRest).body)
            let error = try #require(frames.last)
            #expect(error.event == "error" && error.json["error"]?["code"] == "conflict", "\(error.data)")
            let lastID = try #require(frames.dropLast().last?.id)
            let message = error.json["error"]?["message"]?.stringValue ?? ""
            #expect(message.contains("fell behind") && message.contains("Last-Event-ID \(lastID)"), "\(message)")
            let resumed = try await SSEClient(port: users.port, path: "/v1/trees/flood/events?follow=true", key: "alice-key",
                                              headers: ["Last-Event-ID": lastID])
            #expect(try await resumed.next()?.id == ids[try #require(ids.firstIndex(of: lastID)) + 1])
            resumed.close()

            // WebSocket: the error message, then close code 4409.
            let (webSocket, _) = await webSocketBytes
            let rest = await socket.readToEnd(timeout: .seconds(10)) ?? []
            let (wsStatus, wsRest) = try #require(RawStreams.splitHead(webSocket + rest))
            #expect(wsStatus == 101)
            let (messages, closeCode) = RawStreams.webSocketMessages(wsRest)
            #expect(closeCode == 4409, "close code \(String(describing: closeCode)) after \(messages.count) messages")
            let final = (try? JSONValue(parsing: messages.last ?? "")) ?? .null
            #expect(final["error"]?["code"] == "conflict", "\(messages.last ?? "")")
            let wsLastID = try #require(messages.dropLast().last.flatMap { try? JSONValue(parsing: $0) }?["id"]?.stringValue)
            #expect(final["error"]?["message"]?.stringValue?.contains("Last-Event-ID \(wsLastID)") == true)
            try await Self.expectAlive(d, users)
        }
    }

    // MARK: Configuration

    @Test func limitsAreValidatedNamingTheKey() throws {
        let cases: [(String, String, String)] = [
            ("BATON_GATEWAY_HEADER_TIMEOUT_S", "0", "gateway.header_timeout_s must be a positive number of seconds"),
            ("BATON_GATEWAY_IDLE_TIMEOUT_S", "1e9", "gateway.idle_timeout_s must be at most 86400 seconds"),
            ("BATON_GATEWAY_MAX_REQUEST_LINE_BYTES", "10", "gateway.max_request_line_bytes must be between 256 and 1048576"),
            ("BATON_GATEWAY_MAX_HEADER_BYTES", "99999999", "gateway.max_header_bytes must be between 256 and 1048576"),
            ("BATON_GATEWAY_MAX_CONNECTIONS", "0", "gateway.max_connections must be between 1 and 1000000"),
            ("BATON_GATEWAY_STREAM_BUFFER_BYTES", "100", "gateway.stream_buffer_bytes must be between 4096 and 1073741824"),
            ("BATON_GATEWAY_MAX_CONNECTIONS", "many", "BATON_GATEWAY_MAX_CONNECTIONS must be an integer"),
        ]
        // An empty file: the defaults, then the variable.
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("baton-limits-\(UUID().uuidString).yaml").path
        try Data().write(to: URL(fileURLWithPath: empty))
        defer { try? FileManager.default.removeItem(atPath: empty) }
        for (name, value, expected) in cases {
            #expect {
                _ = try BatonConfig.load(path: empty, environment: [name: value])
            } throws: { error in
                "\(error)".hasPrefix(expected)
            }
        }
        let config = try BatonConfig.load(path: empty, environment: [:]).gateway
        #expect(config.headerTimeoutSeconds == 10 && config.idleTimeoutSeconds == 60)
        #expect(config.maxRequestLineBytes == 8192 && config.maxHeaderBytes == 16384)
        #expect(config.maxConnections == 1024 && config.streamBufferBytes == 1_048_576)
    }

    // MARK: Helpers

    /// Sends `request` on a new connection and reads until the gateway closes it (10 s at most).
    static func exchange(_ port: Int, _ request: String) async throws -> (answer: RawAnswer?, closed: Bool) {
        let connection = try RawConnection(port: port)
        defer { connection.close() }
        try? await connection.send(request)  // the gateway may refuse before everything is sent
        let bytes = await connection.readToEnd(timeout: .seconds(10))
        return (bytes.flatMap(RawAnswer.init), bytes != nil)
    }

    /// `GET path` with `Connection: close` on a new connection.
    static func rawGet(_ port: Int, _ path: String) async throws -> RawAnswer? {
        try await exchange(port, "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").answer
    }

    /// The gateway process still runs and answers `GET /healthz` with 200.
    static func expectAlive(_ d: Deployment, _ users: GatewayUsers, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        #expect(try gateway(d).isRunning, "baton-gateway died\n\(d.diagnostics())", sourceLocation: sourceLocation)
        let health = try await rawGet(users.port, "/healthz")
        #expect(health?.status == 200 && health?.body == #"{"status":"ok"}"#, "\(String(describing: health))", sourceLocation: sourceLocation)
    }

    static func gateway(_ d: Deployment) throws -> ChildProcess {
        try #require(d.processes.first { $0.name.hasPrefix("baton-gateway") && $0.isRunning }, "no running gateway")
    }

    /// `VmRSS` of the process, in MiB.
    static func rssMiB(_ process: ChildProcess) throws -> Double {
        let status = try String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
        let kilobytes = try #require(Double(line.split(separator: " ").dropFirst().first ?? ""))
        return (kilobytes / 1024 * 10).rounded() / 10
    }

    /// Appends `count` progress events of about 1 KB to the tree's stream, with a nudge per
    /// thousand, as the scheduler would.
    static func flood(_ d: Deployment, _ treeID: String, events count: Int) async throws {
        let padding = String(repeating: "x", count: 1000)
        let key = d.store.keys.treeEvents(treeID)
        var sent = 0
        while sent < count {
            let batch = min(1000, count - sent)
            var commands = (0..<batch).map { _ in
                RedisCommand("XADD", key, "*", "type", "progress", "tree_id", treeID, "task_id", treeID,
                             "status", "running", "padding", padding)
            }
            commands.append(RedisCommand("SPUBLISH", d.store.keys.treeChannel(treeID), "1"))
            _ = try await d.store.redis.pipeline(commands)
            sent += batch
        }
    }

    /// Runs `count` copies of `body` at once and returns their results in order.
    static func concurrently<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) async throws -> T) async throws -> [T] {
        try await withThrowingTaskGroup(of: (Int, T).self) { group in
            for index in 0..<count {
                group.addTask { (index, try await body(index)) }
            }
            var results: [(Int, T)] = []
            for try await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }
}
