import Hummingbird

/// Times every request and counts it by method, route template and final status (outermost
/// middleware: it sees the status the error middleware chose). Streaming routes are timed to
/// their response head.
struct MetricsMiddleware: RouterMiddleware {
    typealias Context = GatewayContext

    let metrics: GatewayMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let route = { () -> String in
            guard let path = context.endpointPath, path != "NotFound" else { return "unmatched" }
            return RouteTable.template(path)
        }
        do {
            let response = try await next(request, context)
            metrics.record(method: request.method.rawValue, route: route(), status: response.status.code,
                           seconds: (ContinuousClock.now - start).seconds)
            return response
        } catch {
            metrics.record(method: request.method.rawValue, route: route(), status: 500,
                           seconds: (ContinuousClock.now - start).seconds)
            throw error
        }
    }
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}
