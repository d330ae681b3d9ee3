import ArgumentParser
import BatonConfig
import BatonGateway
import BatonRuntime
import Foundation
import Logging
import ServiceLifecycle

/// `baton-gateway`: the HTTP API (JSON routes, SSE and WebSocket streams, metrics, OpenAPI).
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baton-gateway",
        abstract: "Serve Baton's HTTP API: trees and tasks, live event streams, metrics and the OpenAPI document.")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Address to listen on (default: config gateway.host or BATON_GATEWAY_HOST, else 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on, 0 for any free port (default: config gateway.port or BATON_GATEWAY_PORT, else 8080).")
    var port: Int?

    @Option(help: "Seconds between keep-alive comments on idle event streams (default: BATON_GATEWAY_KEEP_ALIVE_S, else 15).")
    var keepAliveS: Double?

    /// `BATON_GATEWAY_KEEP_ALIVE_S` as a number, or an error naming it.
    static func keepAliveSeconds(_ text: String) throws -> Double {
        guard let seconds = Double(text) else {
            throw ValidationError("BATON_GATEWAY_KEEP_ALIVE_S must be a number of seconds (got '\(text)')")
        }
        return seconds
    }

    static func start() async {
        await main(nil)
    }

    func run() async throws {
        Runtime.bootstrapLogging()
        ProcessMetrics.bootstrap()
        let config = try connection.loadConfig()
        var settings = GatewaySettings(config.gateway)
        settings.extraMetrics = { ProcessMetrics.render() }
        if let host { settings.host = host }
        if let port { settings.port = port }
        let keepAliveText = ProcessInfo.processInfo.environment["BATON_GATEWAY_KEEP_ALIVE_S"]
        let keepAlive = try keepAliveS ?? keepAliveText.map(Self.keepAliveSeconds) ?? 15
        guard (0.05...3600).contains(keepAlive) else {
            throw ValidationError("--keep-alive-s must be between 0.05 and 3600 seconds (got \(keepAlive))")
        }
        settings.keepAlive = .milliseconds(Int64((keepAlive * 1000).rounded()))
        settings.tickInterval = min(settings.tickInterval, settings.keepAlive)
        let logger = Logger(label: "baton.gateway")
        // An HTTP caller gets 503 within a second when Redis is unreachable, not after 10 s of retries.
        let store = try Runtime.makeStore(config, clientName: "baton-gateway", poolSize: 4, failFast: .milliseconds(800))
        try await RedisSettingsCheck.run(store, config: config, logger: logger)
        let app = Gateway.makeApplication(store: store, settings: settings, logger: logger)
        let group = ServiceGroup(
            configuration: .init(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

await GatewayCommand.start()
