import BatonCore
import NIOCore
import NIOHTTP1

/// The first handler of every gateway connection, in front of the HTTP decoder. It
///
/// - holds the connection's slot in the ``ConnectionCounter``: beyond `max_connections` a new
///   connection is answered 503 and closed;
/// - gives each request head ``ConnectionLimits/headerTimeout`` to arrive complete, counted from
///   the connection or from the first byte after the previous response (408);
/// - measures the request line and the header section on the raw bytes (414 / 431), so a head
///   never reaches the decoder's own, larger limit;
/// - answers the framing errors of the decoder, reported by ``ParseErrorCatcher`` (400; 431
///   when the decoder's limit was hit).
///
/// Each refusal is Baton's JSON error body with `Connection: close`; then the connection's output
/// is closed and its input discarded for a short while, so that the client reads the answer
/// instead of a reset, and the connection is closed.
///
/// Where a head ends shows on the raw bytes; where the next one begins does not (bodies,
/// pipelined requests), so ``ExchangeObserver``, behind the decoder, reports decoded heads and
/// ends of requests and responses as outbound user events. A connection upgraded to WebSocket
/// reports nothing more and is only passed through. Idle time between requests, and a body that
/// stalls, are Hummingbird's idle timeout (`HTTP1Channel.Configuration.idleTimeout`).
final class HTTPConnectionGuard: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    /// Writes pass untouched (bytes of the HTTP encoder, or WebSocket frames after an upgrade).
    typealias OutboundIn = NIOAny
    typealias OutboundOut = ByteBuffer

    /// What ``ExchangeObserver`` and ``ParseErrorCatcher`` report, as outbound user events.
    enum Event: Sendable {
        case requestHead
        case requestEnd
        case responseHead
        case responseEnd
        /// The decoder refused the bytes (duplicate Content-Length, Content-Length with
        /// Transfer-Encoding, bad chunk sizes, invalid characters, its own size limits …).
        case malformed(HTTPParserError)
    }

    private enum Phase {
        /// Not active yet.
        case starting
        /// Waiting for a complete request head; the header timer runs.
        case head(HTTPHeadScan)
        /// Between requests, before the first byte of the next one.
        case idle
        /// A head arrived: its body, the handler, the response (or a WebSocket).
        case message
        /// Answered and closing: input is discarded, writes refused.
        case refused
    }

    /// How long a refused connection's input is drained before it is closed.
    static let linger: TimeAmount = .seconds(1)

    private let limits: ConnectionLimits
    private let counter: ConnectionCounter
    private var phase = Phase.starting
    private var holdsSlot = false
    /// A decoded head whose end was not decoded yet.
    private var readingRequest = false
    /// Decoded heads whose response has not ended yet.
    private var pendingResponses = 0
    /// A response head was written and its end was not.
    private var responding = false
    private var headerTimer: Scheduled<Void>?
    private var closeTimer: Scheduled<Void>?
    /// Closes asked for by the handlers behind while a refusal drains, done with the real close.
    private var heldCloses: [EventLoopPromise<Void>?] = []
    private var closing = false

    init(limits: ConnectionLimits, counter: ConnectionCounter) {
        self.limits = limits
        self.counter = counter
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        end()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        end()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard case .starting = phase else { return }
        guard counter.acquire() else {
            phase = .refused
            // Once the rest of the pipeline is set up (it is, synchronously, after this handler).
            context.eventLoop.assumeIsolated().execute { [self] in
                answer(context, .serviceUnavailable, .unavailable(
                    "The gateway has \(counter.limit) open connections, its maximum; retry later"),
                    headers: "Retry-After: 1\r\n")
            }
            return
        }
        holdsSlot = true
        awaitHead(context)
    }

    private func end() {
        if holdsSlot {
            holdsSlot = false
            counter.release()
        }
        headerTimer?.cancel()
        headerTimer = nil
        closeTimer?.cancel()
        closeTimer = nil
        // The connection is closed, whoever closed it.
        let held = heldCloses
        heldCloses = []
        for promise in held { promise?.succeed() }
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch phase {
        case .message:
            context.fireChannelRead(data)
        case .refused, .starting:
            return
        case .idle:
            awaitHead(context)
            scan(context, data)
        case .head:
            scan(context, data)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if case .refused = phase {
            context.read()  // keep draining until the linger ends
        } else {
            context.fireChannelReadComplete()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .refused = phase, let event = event as? ChannelEvent, event == .inputClosed {
            // The client read the answer and closed its side.
            closeRefused(context)
            return
        }
        if event is ChannelShouldQuiesceEvent {
            // Graceful shutdown: a connection between requests has nothing to finish.
            switch phase {
            case .starting, .head, .idle: context.close(promise: nil)
            case .message, .refused: break
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func scan(_ context: ChannelHandlerContext, _ data: NIOAny) {
        guard case .head(var scan) = phase else { return }
        // The phase is settled before the bytes go on: the decoder may report the head at once.
        switch scan.consume(unwrapInboundIn(data)) {
        case .incomplete:
            phase = .head(scan)
            context.fireChannelRead(data)
        case .complete:
            headComplete()
            context.fireChannelRead(data)
        case .requestLineTooLong:
            refuse(context, .uriTooLong, .invalidArgument(
                "The request line is longer than \(limits.maxRequestLineBytes) bytes", field: "target"))
        case .headersTooLarge:
            refuse(context, .requestHeaderFieldsTooLarge, .invalidArgument(
                "The request's header fields are larger than \(limits.maxHeaderBytes) bytes", field: "headers"))
        }
    }

    // MARK: Reports of the observer and the catcher

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let event = event as? Event else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        promise?.succeed()
        if case .refused = phase { return }
        switch event {
        case .requestHead:
            headComplete()
            readingRequest = true
            pendingResponses += 1
        case .requestEnd:
            readingRequest = false
            settleIfDone()
        case .responseHead:
            responding = true
        case .responseEnd:
            responding = false
            pendingResponses = max(0, pendingResponses - 1)
            settleIfDone()
        case .malformed(let error):
            guard !responding else {
                // An answer is being written: no other one can go in front of it or into it.
                context.close(promise: nil)
                return
            }
            // Anything the application still writes for this connection is refused from here on.
            if error == .headerOverflow {
                refuse(context, .requestHeaderFieldsTooLarge, .invalidArgument(
                    "The request head is too large", field: "headers"))
            } else {
                refuse(context, .badRequest, .invalidArgument("Malformed HTTP request (\(Self.describe(error)))"))
            }
        }
    }

    // MARK: Writes

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .refused = phase {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        context.write(data, promise: promise)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if case .refused = phase, !closing {
            // Held: the answer is still being written or drained (see refuse).
            heldCloses.append(promise)
            return
        }
        context.close(mode: mode, promise: promise)
    }

    // MARK: Phases

    private func awaitHead(_ context: ChannelHandlerContext) {
        phase = .head(HTTPHeadScan(maxRequestLineBytes: limits.maxRequestLineBytes, maxHeaderBytes: limits.maxHeaderBytes))
        headerTimer?.cancel()
        let timeout = limits.headerTimeout
        headerTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) { [self] in
            headerTimer = nil
            guard case .head = phase else { return }
            refuse(context, .requestTimeout, .invalidArgument(
                "The request head did not arrive within \(Self.describe(timeout))"))
        }
    }

    private func headComplete() {
        headerTimer?.cancel()
        headerTimer = nil
        switch phase {
        case .starting, .head, .idle: phase = .message
        case .message, .refused: break
        }
    }

    /// Between requests once every decoded request was read and answered.
    private func settleIfDone() {
        if case .message = phase, !readingRequest, pendingResponses == 0 { phase = .idle }
    }

    /// Stops the connection: input is discarded from now on, then ``answer(_:_:_:headers:)``.
    private func refuse(_ context: ChannelHandlerContext, _ status: HTTPResponseStatus, _ error: BatonError) {
        if case .refused = phase { return }
        phase = .refused
        headerTimer?.cancel()
        headerTimer = nil
        answer(context, status, error)
    }

    /// Answers `error` with `status` itself, closes the output once written, and closes the
    /// connection when the client closed its side or after ``linger``.
    private func answer(_ context: ChannelHandlerContext, _ status: HTTPResponseStatus, _ error: BatonError, headers: String = "") {
        let body = JSONValue.object(["error": error.jsonValue]).jsonString()
        var buffer = context.channel.allocator.buffer(capacity: body.utf8.count + 160)
        buffer.writeString("HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n")
        buffer.writeString("Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n")
        buffer.writeString("Connection: close\r\n\(headers)\r\n")
        buffer.writeString(body)
        context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
            context.close(mode: .output, promise: nil)
        }
        closeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.linger) { [self] in
            closeRefused(context)
        }
        // The handlers behind learn that no more input comes, and end: Hummingbird's request
        // loop, or a WebSocket upgrade handler still waiting for a head (which, closed under it
        // instead, makes Hummingbird log an error for every refused connection). Their closes
        // are held until the answer is out.
        context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
    }

    /// Closes a refused connection for good.
    private func closeRefused(_ context: ChannelHandlerContext) {
        closeTimer?.cancel()
        closeTimer = nil
        closing = true
        let closed = context.eventLoop.makePromise(of: Void.self)
        context.close(promise: closed)
        for held in heldCloses {
            if let held { closed.futureResult.cascade(to: held) }
        }
        heldCloses = []
    }

    private static func describe(_ error: HTTPParserError) -> String {
        switch error {
        case .unexpectedContentLength: "a second Content-Length, or Content-Length with Transfer-Encoding"
        case .invalidContentLength: "invalid Content-Length"
        case .invalidChunkSize: "invalid chunk size"
        case .invalidHeaderToken, .invalidCharactersUsed: "invalid character in the head"
        case .invalidURL: "invalid request target"
        case .invalidMethod: "unknown method"
        case .invalidVersion: "invalid HTTP version"
        case .lfExpected, .invalidConstant: "invalid line ending or constant"
        case .trailingGarbage: "bytes after the end of the message"
        case .unknown: "invalid Transfer-Encoding, e.g. with Content-Length, or a missing CR"
        default: "\(error)"
        }
    }

    /// `10 s`, `0.5 s`.
    private static func describe(_ duration: Duration) -> String {
        let millis = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return millis % 1000 == 0 ? "\(millis / 1000) s" : "\(Double(millis) / 1000) s"
    }
}
