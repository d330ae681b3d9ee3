import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1

/// Hummingbird's HTTP/1.1 channel with WebSocket upgrade, behind an ``HTTPConnectionGuard``.
///
/// Hummingbird adds its `additionalChannelHandlers` after the decoder, and only once the first
/// head is decoded (the upgrade decision needs it), so nothing of its configuration sees a
/// connection that never completes a head. This channel puts the guard in front of the decoder
/// and a ``HTTPConnectionGuard/ParseErrorCatcher`` right behind it, and runs each connection's
/// handling with ``StreamConnection/current`` set.
struct GuardedHTTPChannel: ServerChildChannel {
    typealias Value = HTTP1WebSocketUpgradeChannel.Value

    let inner: HTTP1WebSocketUpgradeChannel
    let limits: ConnectionLimits
    let counter: ConnectionCounter

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            try channel.pipeline.syncOperations.addHandler(HTTPConnectionGuard(limits: limits, counter: counter))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let operations = channel.pipeline.syncOperations
            let decoder = try operations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try operations.addHandler(HTTPConnectionGuard.ParseErrorCatcher(), position: .after(decoder))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await StreamConnection.$current.withValue(StreamConnection(channel: value.channel)) {
            await inner.handle(value: value, logger: logger)
        }
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with WebSocket upgrades decided by `webSocketRouter`, every connection behind an
    /// ``HTTPConnectionGuard`` with these limits, Hummingbird's idle timeout set to
    /// ``ConnectionLimits/idleTimeout``.
    static func guardedHTTP1WebSocketUpgrade(
        webSocketRouter: Router<GatewayContext>, limits: ConnectionLimits
    ) -> HTTPServerBuilder {
        let webSocketResponder = webSocketRouter.buildResponder()
        let counter = ConnectionCounter(limit: limits.maxConnections)
        // The decoder's own limits only back ours up (e.g. for a pipelined head the guard did not
        // measure); they count the target, names and values without separators.
        let decoderLimit = limits.maxRequestLineBytes + limits.maxHeaderBytes + 1024
        let http1 = HTTP1Channel.Configuration(
            additionalChannelHandlers: [HTTPConnectionGuard.ExchangeObserver()],
            idleTimeout: TimeAmount(limits.idleTimeout),
            httpDecoderConfiguration: .init(maxHeaderFieldSize: decoderLimit, maxHeaderListSize: decoderLimit))
        return HTTPServerBuilder { responder in
            GuardedHTTPChannel(
                inner: HTTP1WebSocketUpgradeChannel(
                    responder: responder, webSocketResponder: webSocketResponder,
                    configuration: .init(http1: http1, ws: .init())),
                limits: limits, counter: counter)
        }
    }
}
