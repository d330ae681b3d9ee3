import Foundation
import Synchronization

/// The gateway's Prometheus metrics, kept in memory and written in the text exposition format
/// (version 0.0.4) by ``render()``: request counts by method, route template and status, a
/// latency histogram per route, streaming clients, tree readers and delivered events.
final class GatewayMetrics: Sendable {
    /// Upper bounds of the latency histogram, in seconds.
    static let buckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    private struct RequestKey: Hashable {
        let method: String
        let route: String
        let status: Int
    }

    private struct RouteKey: Hashable {
        let method: String
        let route: String
    }

    private struct Histogram {
        var counts = [UInt64](repeating: 0, count: GatewayMetrics.buckets.count)
        var sum: Double = 0
        var count: UInt64 = 0
    }

    private struct State {
        var requests: [RequestKey: UInt64] = [:]
        var latency: [RouteKey: Histogram] = [:]
        var sseClients = 0
        var webSocketClients = 0
        var treeReaders = 0
        var eventsDelivered: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Counts one answered request.
    func record(method: String, route: String, status: Int, seconds: Double) {
        state.withLock { state in
            state.requests[RequestKey(method: method, route: route, status: status), default: 0] += 1
            var histogram = state.latency[RouteKey(method: method, route: route)] ?? Histogram()
            if let bucket = Self.buckets.firstIndex(where: { seconds <= $0 }) { histogram.counts[bucket] += 1 }
            histogram.sum += seconds
            histogram.count += 1
            state.latency[RouteKey(method: method, route: route)] = histogram
        }
    }

    func sseClientConnected(_ delta: Int) { state.withLock { $0.sseClients += delta } }
    func webSocketClientConnected(_ delta: Int) { state.withLock { $0.webSocketClients += delta } }
    func setTreeReaders(_ count: Int) { state.withLock { $0.treeReaders = count } }
    func addEventsDelivered(_ count: Int) { state.withLock { $0.eventsDelivered += UInt64(max(0, count)) } }

    /// Streaming clients connected now (SSE and WebSocket).
    var streamingClients: Int { state.withLock { $0.sseClients + $0.webSocketClients } }

    /// Every metric in the Prometheus text format.
    func render() -> String {
        let snapshot = state.withLock { $0 }
        var out = ""
        out += "# HELP baton_gateway_http_requests_total HTTP requests answered, by method, route template and status.\n"
        out += "# TYPE baton_gateway_http_requests_total counter\n"
        for (key, count) in snapshot.requests.sorted(by: { ($0.key.route, $0.key.method, $0.key.status) < ($1.key.route, $1.key.method, $1.key.status) }) {
            out += "baton_gateway_http_requests_total{method=\"\(Self.escape(key.method))\",route=\"\(Self.escape(key.route))\",status=\"\(key.status)\"} \(count)\n"
        }
        out += "# HELP baton_gateway_http_request_duration_seconds Time to the response head, by method and route template.\n"
        out += "# TYPE baton_gateway_http_request_duration_seconds histogram\n"
        for (key, histogram) in snapshot.latency.sorted(by: { ($0.key.route, $0.key.method) < ($1.key.route, $1.key.method) }) {
            let labels = "method=\"\(Self.escape(key.method))\",route=\"\(Self.escape(key.route))\""
            var cumulative: UInt64 = 0
            for (bound, count) in zip(Self.buckets, histogram.counts) {
                cumulative += count
                out += "baton_gateway_http_request_duration_seconds_bucket{\(labels),le=\"\(Self.number(bound))\"} \(cumulative)\n"
            }
            out += "baton_gateway_http_request_duration_seconds_bucket{\(labels),le=\"+Inf\"} \(histogram.count)\n"
            out += "baton_gateway_http_request_duration_seconds_sum{\(labels)} \(Self.number(histogram.sum))\n"
            out += "baton_gateway_http_request_duration_seconds_count{\(labels)} \(histogram.count)\n"
        }
        out += "# HELP baton_gateway_sse_clients Server-Sent Events clients connected now.\n"
        out += "# TYPE baton_gateway_sse_clients gauge\n"
        out += "baton_gateway_sse_clients \(snapshot.sseClients)\n"
        out += "# HELP baton_gateway_websocket_clients WebSocket clients connected now.\n"
        out += "# TYPE baton_gateway_websocket_clients gauge\n"
        out += "baton_gateway_websocket_clients \(snapshot.webSocketClients)\n"
        out += "# HELP baton_gateway_tree_readers Trees whose event stream this gateway reads now (one reader per tree).\n"
        out += "# TYPE baton_gateway_tree_readers gauge\n"
        out += "baton_gateway_tree_readers \(snapshot.treeReaders)\n"
        out += "# HELP baton_gateway_events_delivered_total Events handed to streaming clients.\n"
        out += "# TYPE baton_gateway_events_delivered_total counter\n"
        out += "baton_gateway_events_delivered_total \(snapshot.eventsDelivered)\n"
        return out
    }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    private static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        return String(value)
    }
}
