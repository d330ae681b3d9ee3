import ArgumentParser
import BatonCore
import BatonStore
import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// The process's metrics: swift-metrics with the Prometheus backend, bootstrapped once.
public enum ProcessMetrics {
    /// The registry every metric of this process lands in (the first use bootstraps swift-metrics).
    public static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    /// Bootstraps swift-metrics (idempotent).
    public static func bootstrap() { _ = registry }

    /// The Prometheus text exposition of every metric.
    public static func render() -> String { registry.emitToString() }
}

/// `--metrics-port` / `BATON_METRICS_PORT` (and `--metrics-host` / `BATON_METRICS_HOST`) of the
/// scheduler and the agent: where they serve `/metrics`, `/healthz` and `/readyz`.
public struct MetricsOptions: ParsableArguments {
    @Option(name: .customLong("metrics-port"), help: "Serve /metrics, /healthz and /readyz on this port (default: BATON_METRICS_PORT; none when unset).")
    public var port: Int?

    @Option(name: .customLong("metrics-host"), help: "Address of the metrics endpoint (default: BATON_METRICS_HOST or 127.0.0.1).")
    public var host: String?

    public init() {}

    /// The port to serve on, or `nil` for none.
    /// - Throws: `ValidationError` naming the flag or variable when it is not a port number.
    public func resolvedPort(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Int? {
        if let port {
            guard (0...65535).contains(port) else { throw ValidationError("--metrics-port must be between 0 and 65535 (got \(port))") }
            return port
        }
        guard let text = environment["BATON_METRICS_PORT"]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        guard let value = Int(text), (0...65535).contains(value) else {
            throw ValidationError("BATON_METRICS_PORT must be a port number from 0 to 65535 (got \"\(text)\")")
        }
        return value
    }

    public func resolvedHost(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        host ?? environment["BATON_METRICS_HOST"].flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1"
    }
}

/// A small HTTP server for a service without an API of its own: `/metrics` (Prometheus text),
/// `/healthz` (the process answers) and `/readyz` (every Redis master answers).
public enum MetricsEndpoint {
    public static func make(
        host: String, port: Int, store: BatonStore, serverName: String, logger: Logger
    ) -> some Service {
        let router = Router()
        router.get("metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: ProcessMetrics.render())))
        }
        router.get("healthz") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
        }
        router.get("readyz") { _, _ in
            let readiness = await store.redisReadiness()
            let body = JSONValue.object([
                "status": .string(readiness.isReady ? "ready" : "unavailable"), "redis": readiness.jsonValue,
            ]).jsonString()
            return Response(status: readiness.isReady ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        }
        return Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: serverName),
            onServerRunning: { channel in
                logger.info("metrics endpoint listening", metadata: ["baton.url": "http://\(host):\(channel.localAddress?.port ?? port)/metrics"])
            },
            logger: logger)
    }
}
