import BatonStore
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore

/// Builds the gateway application: routes, middleware, WebSocket upgrade and the streaming hub.
///
/// Every connection is bounded (``ConnectionLimits``): ``HTTPConnectionGuard`` in front of the
/// HTTP decoder enforces `max_connections` (503), the header timeout (408), the request line and
/// header sizes (414, 431) and answers malformed framing (400), each with Baton's JSON error body
/// and then a close; Hummingbird's idle timeout closes idle keep-alive connections and stalled
/// bodies; streaming clients that fall behind are cut off by ``TreeEventHub``.
///
/// ```swift
/// let app = Gateway.makeApplication(store: store, settings: settings, logger: logger)
/// try await app.runService()
/// ```
public enum Gateway {
    /// The application, ready to run (it is a `Service`; the streaming hub runs as one of its services).
    ///
    /// - Parameter onListening: called with the bound port once the server accepts connections.
    public static func makeApplication(
        store: BatonStore,
        settings: GatewaySettings,
        logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let metrics = GatewayMetrics()
        let hub = TreeEventHub(
            store: store,
            settings: TreeEventHub.Settings(tickInterval: settings.tickInterval, clientBufferBytes: settings.streamBufferBytes),
            metrics: metrics, logger: logger)
        let services = GatewayServices(
            store: store, settings: settings, hub: hub, metrics: metrics,
            idempotency: IdempotencyStore(store: store, ttlSeconds: settings.idempotencyTTLSeconds),
            logger: logger)

        let authenticator = APIKeyAuthenticator(keys: settings.apiKeys)
        let router = Router(context: GatewayContext.self)
        router.add(middleware: MetricsMiddleware(metrics: metrics))
        router.add(middleware: ErrorMiddleware())
        HealthRoutes(services: services).register(on: router)
        DashboardRoutes(services: services, authenticator: authenticator).register(on: router)
        router.add(middleware: AuthMiddleware(authenticator: authenticator, store: store))
        let v1 = router.group("v1")
        TreeRoutes(services: services).register(on: v1)
        TaskRoutes(services: services).register(on: v1)
        TreeCopyRoutes(services: services).register(on: v1)
        FleetRoutes(services: services).register(on: v1)
        ScheduleRoutes(services: services).register(on: v1)
        EventRoutes(services: services).register(on: v1)

        // WebSocket upgrades are decided by a router of their own, with one route (it checks the
        // key and the tree on the socket).
        let webSocketRouter = Router(context: GatewayContext.self)
        EventRoutes(services: services).registerWebSocket(on: webSocketRouter.group("v1"), authenticator: authenticator)

        var app = Application(
            router: router,
            server: .guardedHTTP1WebSocketUpgrade(webSocketRouter: webSocketRouter, limits: settings.connections),
            configuration: ApplicationConfiguration(
                address: .hostname(settings.host, port: settings.port), serverName: "baton-gateway", backlog: 4096),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? settings.port
                logger.info("baton-gateway listening", metadata: ["baton.url": "http://\(settings.host):\(port)"])
                await onListening(port)
            },
            logger: logger)
        app.addServices(hub)
        return app
    }
}
