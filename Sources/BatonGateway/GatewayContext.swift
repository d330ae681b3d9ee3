import Hummingbird
import HummingbirdWebSocket

/// The request context of every route: Hummingbird's core storage, the WebSocket upgrade slot,
/// and the caller's identity once ``AuthMiddleware`` checked the API key.
public struct GatewayContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<GatewayContext>
    /// Set by ``AuthMiddleware``; `nil` on public routes.
    public var identity: Identity?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        identity = nil
    }

    /// The caller, or `unauthorized` on a route that forgot ``AuthMiddleware``.
    public func requireIdentity() throws -> Identity {
        guard let identity else { throw GatewayError.unauthorized }
        return identity
    }
}
