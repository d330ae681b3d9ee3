import BatonCore
import Foundation
import RedisClient
import Testing

/// Server-Sent Events and WebSocket streams of a tree's events: replay, live delivery, resume
/// after a dropped connection, follow, trimmed ids, keep-alives, one shared reader per tree.
@Suite("Gateway streams")
struct GatewayStreamTests {
    /// A tree that emits a few dozen events over about two seconds (progress reports included).
    static let busyTree = #"""
        [{"id": "busy", "name": "busy", "executor": "sleep_executor", "inputs": {"seconds": 1.2}},
         {"id": "busy-1", "name": "one", "parent_id": "busy", "executor": "sleep_executor", "inputs": {"seconds": 1.0}},
         {"id": "busy-2", "name": "two", "parent_id": "busy", "executor": "echo_executor", "dependencies": ["busy"]},
         {"id": "busy-3", "name": "three", "parent_id": "busy", "executor": "sleep_executor", "dependencies": ["busy-1"], "inputs": {"seconds": 1.0}}]
        """#

    /// The stream's ids, for comparing with what a client got.
    static func streamIDs(_ d: Deployment, _ treeID: String) async throws -> [String] {
        let reply = try await d.store.redis.send("XRANGE", d.store.keys.treeEvents(treeID), "-", "+")
        return (reply.array ?? []).compactMap { $0.array?.first?.string }
    }

    @Test func sseReplaysFollowsLiveAndEndsAfterTreeFinished() async throws {
        try await withGateway { d, users in
            _ = try await users.alice.createTree(Self.busyTree)
            // Connected while the tree runs: everything from the beginning, then live, then the end.
            let client = try await SSEClient(port: users.port, path: "/v1/trees/busy/events", key: "alice-key")
            #expect(client.status == 200)
            #expect(client.headers["content-type"] == "text/event-stream")
            let frames = try await client.all()
            #expect(client.finished, "the stream must end after tree_finished")
            #expect(frames.last?.type == "tree_finished", "\(frames.map(\.data))")
            let ids = frames.compactMap(\.id)
            #expect(ids.count == frames.count)
            #expect(ids == (try await Self.streamIDs(d, "busy")), "the client got exactly the stream")
            #expect(frames.contains { $0.type == "progress" })
            // Every event carries its id, type, tree, task, status and a numeric timestamp.
            for frame in frames {
                let event = frame.json
                #expect(event["id"]?.stringValue == frame.id && event["tree_id"] == "busy" && event["task_id"] != nil
                        && event["status"] != nil && event["timestamp"]?.intValue != nil, "\(frame.data)")
            }
            let completed = frames.first { $0.type == "task_completed" && $0.json["task_id"] == "busy-2" }
            #expect(completed?.json["result"]?["busy"]?["slept_s"] != nil, "result is JSON: \(completed?.data ?? "")")

            // Connected after the end: the whole history, then the end at once.
            let late = try await SSEClient(port: users.port, path: "/v1/trees/busy/events", key: "alice-key")
            let replay = try await late.all(timeout: .seconds(5))
            #expect(replay.compactMap(\.id) == ids)
            // Resuming after the last event of a finished tree ends at once, with nothing.
            let tail = try await SSEClient(port: users.port, path: "/v1/trees/busy/events?after=\(ids.last!)", key: "alice-key")
            #expect(try await tail.all(timeout: .seconds(5)).isEmpty)
        }
    }

    @Test func sseResumesAfterADroppedConnectionWithoutGapOrDuplicate() async throws {
        try await withGateway { d, users in
            _ = try await users.alice.createTree(Self.busyTree)
            var received: [SSEFrame] = []
            var lastID: String?
            var connections = 0
            var useQuery = false
            // Drop the connection every few events and reconnect with the last id seen, through the
            // header (as browsers do) or ?after=, until the stream ends after tree_finished.
            reconnect: while connections < 50 {
                connections += 1
                var path = "/v1/trees/busy/events"
                var headers: [String: String] = [:]
                if let lastID {
                    if useQuery { path += "?after=\(lastID)" } else { headers["Last-Event-ID"] = lastID }
                    useQuery.toggle()
                }
                let client = try await SSEClient(port: users.port, path: path, key: "alice-key", headers: headers)
                #expect(client.status == 200)
                for _ in 0..<(connections % 4 + 2) {
                    guard let frame = try await client.next(timeout: .seconds(20)) else { break reconnect }
                    received.append(frame)
                    lastID = frame.id
                }
                client.close()
            }
            let ids = received.compactMap(\.id)
            #expect(received.last?.type == "tree_finished")
            #expect(connections > 3, "the test dropped too few connections: \(connections)")
            #expect(Set(ids).count == ids.count, "duplicates: \(ids)")
            #expect(ids == (try await Self.streamIDs(d, "busy")), "gap or reordering")
            // Dropped clients are gone from the gauge.
            try await d.waitUntil("no SSE client left") {
                metricValue(try await users.anonymous.get("/metrics").text, "baton_gateway_sse_clients") == 0
            }
        }
    }

    @Test func followKeepsTheStreamOpenAndTrimmedIdsAreAnError() async throws {
        try await withGateway(agents: [AgentSpec(executors: ["echo_executor"])]) { d, users in
            _ = try await users.alice.createTree(echoTree("f"))
            _ = try await users.alice.waitForTree("f-root")
            let ids = try await Self.streamIDs(d, "f-root")
            // follow=true: past tree_finished, a task added to the tree arrives live.
            let client = try await SSEClient(port: users.port, path: "/v1/trees/f-root/events?follow=true&after=\(ids[2])", key: "alice-key")
            var seen: [SSEFrame] = []
            while seen.last?.type != "tree_finished" {
                seen.append(try #require(try await client.next()))
            }
            #expect(seen.compactMap(\.id) == Array(ids[3...]))
            let added = try await users.alice.post("/v1/tasks", #"{"id": "f-late", "name": "late", "parent_id": "f-root", "executor": "echo_executor"}"#)
            #expect(added.status == 201, "\(added)")
            var live: [String] = []
            while live.last != "tree_finished" {
                let frame = try #require(try await client.next())
                #expect(frame.json["task_id"] == "f-late" || frame.type == "tree_finished", "\(frame.data)")
                live.append(frame.type ?? "")
            }
            #expect(live == ["task_created", "task_started", "task_completed", "tree_finished"], "\(live)")
            client.close()

            // An id trimmed from the stream is reported as an error event, then the stream ends.
            _ = try await d.store.redis.send("XTRIM", d.store.keys.treeEvents("f-root"), "MAXLEN", "2")
            let trimmed = try await SSEClient(port: users.port, path: "/v1/trees/f-root/events", key: "alice-key",
                                              headers: ["Last-Event-ID": ids[1]])
            let frames = try await trimmed.all(timeout: .seconds(5))
            #expect(frames.count == 1 && frames[0].event == "error", "\(frames.map(\.data))")
            #expect(frames.first?.json["error"]?["message"]?.stringValue?.contains("trimmed") == true)
            // Without an id, what is still kept.
            let kept = try await SSEClient(port: users.port, path: "/v1/trees/f-root/events", key: "alice-key")
            #expect(try await kept.all(timeout: .seconds(5)).count == 2)
        }
    }

    @Test func webSocketDeliversTheSameEventsAndResumes() async throws {
        try await withGateway { d, users in
            _ = try await users.alice.createTree(Self.busyTree)
            let socket = try await WebSocketClient(port: users.port, path: "/v1/trees/busy/ws", key: "alice-key")
            #expect(socket.status == 101, "\(socket.status) \(socket.refusal)")
            // Read half, drop, resume with ?after= on a new socket.
            var messages: [JSONValue] = []
            for _ in 0..<6 { messages.append(try JSONValue(parsing: try #require(try await socket.next()))) }
            socket.stream.close()
            let lastID = try #require(messages.last?["id"]?.stringValue)
            let resumed = try await WebSocketClient(port: users.port, path: "/v1/trees/busy/ws?after=\(lastID)", key: "alice-key")
            #expect(resumed.status == 101)
            messages += try await resumed.all().map { try JSONValue(parsing: $0) }
            #expect(messages.last?["type"] == "tree_finished")
            #expect(messages.compactMap { $0["id"]?.stringValue } == (try await Self.streamIDs(d, "busy")))
            // Refusals of the upgrade and of a plain GET.
            let missing = try await WebSocketClient(port: users.port, path: "/v1/trees/ghost/ws", key: "alice-key")
            let missingMessages = try await missing.all()
            #expect(missing.closeCode == 4404 && missingMessages.count == 1 && missingMessages[0].contains("not_found"), "\(missingMessages)")
            let anonymous = try await WebSocketClient(port: users.port, path: "/v1/trees/busy/ws", key: nil)
            let anonymousMessages = try await anonymous.all()
            #expect(anonymous.closeCode == 4401 && anonymousMessages.first?.contains("unauthorized") == true, "\(anonymousMessages)")
            let badResume = try await WebSocketClient(port: users.port, path: "/v1/trees/busy/ws?after=xyz", key: "alice-key")
            _ = try await badResume.all()
            #expect(badResume.closeCode == 4400)
            expectClientError(try await users.alice.get("/v1/trees/busy/ws"), 400, code: "invalid_argument", "plain GET of ws")
        }
    }

    @Test func clientsOfOneTreeShareOneReaderAndGetKeepAlives() async throws {
        // A gateway with short keep-alives.
        try await withGateway(agents: [AgentSpec(executors: ["sleep_executor", "echo_executor"])],
                              environment: ["BATON_GATEWAY_KEEP_ALIVE_S": "0.3"]) { d, users in
            _ = try await users.alice.createTree(#"[{"id": "slow", "name": "slow", "executor": "sleep_executor", "inputs": {"seconds": 3}}]"#)
            var clients: [SSEClient] = []
            for _ in 0..<20 {
                clients.append(try await SSEClient(port: users.port, path: "/v1/trees/slow/events?follow=true", key: "alice-key"))
            }
            try await d.waitUntil("20 clients counted") {
                metricValue(try await users.anonymous.get("/metrics").text, "baton_gateway_sse_clients") == 20
            }
            let metrics = try await users.anonymous.get("/metrics").text
            #expect(metricValue(metrics, "baton_gateway_tree_readers") == 1, "\(metrics)")
            // Keep-alive comments arrive on an idle stream.
            let first = clients[0]
            let before = first.comments
            try await first.waitForComment(after: before, timeout: .seconds(5))
            // Everyone gets the whole tree.
            let expected = try await withThrowingTaskGroup(of: [String].self) { group in
                for client in clients {
                    let stream = client
                    group.addTask {
                        var ids: [String] = []
                        while let frame = try await stream.next(timeout: .seconds(30)) {
                            ids.append(frame.id ?? "")
                            if frame.type == "tree_finished" { break }
                        }
                        stream.close()
                        return ids
                    }
                }
                return try await group.reduce(into: [[String]]()) { $0.append($1) }
            }
            let ids = try await Self.streamIDs(d, "slow")
            #expect(expected.allSatisfy { $0 == ids }, "\(expected)")
        }
    }
}
