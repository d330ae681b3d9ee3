import BatonConfig
import BatonCore

/// Everything the gateway needs to know besides the store: where to listen, who may call, limits.
public struct GatewaySettings: Sendable {
    /// Address to listen on.
    public var host: String
    /// Port to listen on (0: any free port; the chosen one is logged and passed to `onListening`).
    public var port: Int
    /// Accepted API keys.
    public var apiKeys: [APIKey]
    /// Largest request body, in bytes (413 beyond).
    public var maxBodyBytes: Int
    /// Seconds between SSE keep-alive comments on an idle stream.
    public var keepAlive: Duration = .seconds(15)
    /// Streaming readers' fallback read interval (pub/sub nudges make reads immediate).
    public var tickInterval: Duration = .seconds(1)
    /// Seconds an idempotent answer is remembered.
    public var idempotencyTTLSeconds = 86_400
    /// Executor types this deployment runs (`nil`: any), checked at creation.
    public var knownExecutors: Set<String>?
    /// More Prometheus text for `/metrics`: the process's swift-metrics (store, Redis scripts).
    public var extraMetrics: @Sendable () -> String = { "" }
    /// Who may submit which executor types (`gateway.executor_policy`).
    public var executorPolicy: ExecutorPolicy = .default
    /// Timeouts, head sizes and open connections (`gateway.header_timeout_s` …).
    public var connections: ConnectionLimits
    /// Bytes of events a streaming client may have waiting before it is disconnected
    /// (`gateway.stream_buffer_bytes`).
    public var streamBufferBytes: Int

    /// Settings from the `gateway` section of the configuration.
    public init(_ config: GatewayConfig) {
        host = config.host
        port = config.port
        apiKeys = config.apiKeys
        maxBodyBytes = config.maxBodyBytes
        executorPolicy = ExecutorPolicy(config.executorPolicy)
        knownExecutors = config.knownExecutorSet
        connections = ConnectionLimits(config)
        streamBufferBytes = config.streamBufferBytes
    }
}
