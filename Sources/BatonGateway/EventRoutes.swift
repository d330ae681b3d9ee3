import BatonCore
import Foundation
import Hummingbird
import HummingbirdWebSocket
import ServiceLifecycle

/// `GET /v1/trees/{id}/events` (Server-Sent Events) and `GET /v1/trees/{id}/ws` (WebSocket): every
/// event of the tree from the beginning, or after `Last-Event-ID` (header) / `?after=`; the stream
/// ends after `tree_finished` unless `?follow=true`. See ``EventSession`` and ``TreeEventHub``.
struct EventRoutes {
    let services: GatewayServices

    /// How long a WebSocket client has to answer the close frame at the end of its stream.
    static let closeAnswerTimeout: Duration = .seconds(5)

    func register(on group: RouterGroup<GatewayContext>) {
        group.get("trees/:id/events", use: serverSentEvents)
        group.get("trees/:id/ws", use: notUpgraded)
    }

    /// The upgrade route, on the router that decides WebSocket upgrades. Every well-formed
    /// upgrade is accepted and the checks run on the socket: browsers never see the status of a
    /// refused handshake, so a refusal is a message `{"error": {...}}` followed by a close with
    /// code 4000 + the HTTP status (4400, 4401, 4404, 4503). A stream that ends with an error
    /// closes the same way: 4404 for a trimmed resume id, 4409 for a client that fell behind
    /// (its message names the id to resume from), 4503 when Redis is unreachable.
    func registerWebSocket(on group: RouterGroup<GatewayContext>, authenticator: APIKeyAuthenticator) {
        let services = self.services
        group.ws("trees/:id/ws") { inbound, outbound, context in
            let streamRequest: EventSession.Request
            do {
                var requestContext = context.requestContext
                requestContext.identity = try AuthMiddleware.identity(of: context.request, authenticator)
                streamRequest = try await Self.authorize(context.request, requestContext, services)
            } catch {
                let refusal = ErrorMiddleware.batonError(for: error, logger: context.logger)
                try? await outbound.writeTextMessage(JSONValue.object(["error": refusal.jsonValue]).jsonString())
                try? await outbound.close(.unknown(UInt16(4000 + refusal.httpStatus)), reason: refusal.code.rawValue)
                return
            }
            let connection = StreamConnection.current
            let session = EventSession(
                streamRequest, format: .webSocket, hub: services.hub, store: services.store,
                keepAlive: services.settings.keepAlive, disconnect: { connection?.close() })
            services.metrics.webSocketClientConnected(1)
            defer {
                session.stop()
                services.metrics.webSocketClientConnected(-1)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    // Client messages are ignored; the loop ends when the client closes.
                    for try await _ in inbound {}
                    session.stop()
                }
                group.addTask {
                    let ending = try await withGracefulShutdownHandler {
                        var pacer = WritePacer(connection)
                        return try await session.run { text in
                            try await outbound.writeTextMessage(text)
                            try await pacer.wrote(text.utf8.count)
                        }
                    } onGracefulShutdown: {
                        session.stop()
                    }
                    if let ending {
                        try? await outbound.close(.unknown(UInt16(4000 + ending.httpStatus)), reason: ending.code.rawValue)
                    } else {
                        try? await outbound.close(.normalClosure, reason: nil)
                    }
                }
                // Whichever ends first: the client closed (the session stops), or the stream ended
                // with a close frame sent; the client then has a few seconds to answer it, so that
                // one that reads nothing cannot keep the connection open.
                try await group.next()
                session.stop()
                group.addTask { try? await Task.sleep(for: Self.closeAnswerTimeout) }
                try await group.next()
                group.cancelAll()
            }
        }
    }

    /// Server-Sent Events: `id: <event id>` and `data: <event JSON>` per event, keep-alive comments,
    /// `event: error` when the stream cannot go on.
    @Sendable func serverSentEvents(_ request: Request, context: GatewayContext) async throws -> Response {
        let streamRequest = try await Self.authorize(request, context, services)
        let connection = StreamConnection.current
        let session = EventSession(
            streamRequest, format: .serverSentEvents, hub: services.hub, store: services.store,
            keepAlive: services.settings.keepAlive, disconnect: { connection?.close() })
        let metrics = services.metrics
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", .accelBuffering: "no"],
            body: ResponseBody { writer in
                metrics.sseClientConnected(1)
                defer {
                    session.stop()
                    metrics.sseClientConnected(-1)
                }
                try await request.body.consumeWithInboundCloseHandler { _ in
                    try await withGracefulShutdownHandler {
                        var pacer = WritePacer(connection)
                        _ = try await session.run { text in
                            try await writer.write(ByteBuffer(string: text))
                            try await pacer.wrote(text.utf8.count)
                        }
                    } onGracefulShutdown: {
                        session.stop()
                    }
                } onInboundClosed: {
                    session.stop()
                }
                try await writer.finish(nil)
            })
    }

    /// A plain GET of the WebSocket route: the checks of an upgrade, then 400.
    @Sendable func notUpgraded(_ request: Request, context: GatewayContext) async throws -> Response {
        _ = try await Self.authorize(request, context, services)
        throw BatonError.invalidArgument(
            "GET /v1/trees/{id}/ws is a WebSocket endpoint: send Connection: Upgrade and Upgrade: websocket",
            field: "Upgrade")
    }

    /// Parses the stream request and checks that the caller may see the tree (404 otherwise).
    private static func authorize(
        _ request: Request, _ context: GatewayContext, _ services: GatewayServices
    ) async throws -> EventSession.Request {
        let identity = try context.requireIdentity()
        let streamRequest = try Self.parse(request, context)
        _ = try await services.store.treeRecord(streamRequest.treeID, userID: identity.scope)
        return streamRequest
    }

    /// Tree id, resume id (`Last-Event-ID` wins over `?after=`, as a browser reconnects with both) and `follow`.
    static func parse(_ request: Request, _ context: GatewayContext) throws -> EventSession.Request {
        let treeID = try RequestInput.pathID(context)
        var after = StreamID.zero
        if let header = request.headers[.lastEventID] {
            guard let id = StreamID(header) else {
                throw BatonError.invalidArgument("Last-Event-ID must be an event id such as 1700000000000-0", field: "Last-Event-ID")
            }
            after = id
        } else if let text = request.uri.queryParameters.get("after") {
            guard let id = StreamID(text) else {
                throw BatonError.invalidArgument("after must be an event id such as 1700000000000-0", field: "after")
            }
            after = id
        }
        return EventSession.Request(treeID: treeID, after: after, follow: try RequestInput.flag(request, "follow"))
    }
}
