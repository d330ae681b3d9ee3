import HummingbirdCore
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

extension HTTPConnectionGuard {
    /// Behind the decoder (one of Hummingbird's `additionalChannelHandlers`): tells the guard
    /// where requests and responses begin and end, so that it knows when the next head begins.
    final class ExchangeObserver: ChannelDuplexHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPRequestPart
        typealias InboundOut = HTTPRequestPart
        typealias OutboundIn = HTTPResponsePart
        typealias OutboundOut = HTTPResponsePart

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head: context.triggerUserOutboundEvent(Event.requestHead, promise: nil)
            case .end: context.triggerUserOutboundEvent(Event.requestEnd, promise: nil)
            case .body: break
            }
            context.fireChannelRead(data)
        }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            switch unwrapOutboundIn(data) {
            case .head:
                context.triggerUserOutboundEvent(Event.responseHead, promise: nil)
                context.write(data, promise: promise)
            case .body:
                context.write(data, promise: promise)
            case .end:
                context.write(data, promise: promise)
                context.triggerUserOutboundEvent(Event.responseEnd, promise: nil)
            }
        }
    }

    /// Right behind the decoder: hands its parse errors to the guard, which answers them, instead
    /// of letting them reach Hummingbird (which, before a WebSocket upgrade decision, leaves the
    /// connection hanging, and otherwise answers an empty 400).
    final class ParseErrorCatcher: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = NIOAny

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            if let error = error as? HTTPParserError {
                context.triggerUserOutboundEvent(Event.malformed(error), promise: nil)
            } else {
                context.fireErrorCaught(error)
            }
        }
    }
}
