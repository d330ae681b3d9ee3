import BatonCore
import Hummingbird
import RedisClient

/// `GET /healthz`, `/readyz`, `/metrics`, `/openapi.json`: public, no API key.
struct HealthRoutes {
    let services: GatewayServices

    func register(on router: Router<GatewayContext>) {
        router.get("healthz") { _, _ in
            JSONResponse.make(["status": "ok"])
        }
        // Ready when every Redis master answers (and, on a cluster, serves every slot).
        router.get("readyz") { _, _ in
            let readiness = await services.store.redisReadiness()
            if readiness.isReady {
                return JSONResponse.make(["status": "ready", "redis": readiness.jsonValue])
            }
            return JSONResponse.make(
                ["status": "unavailable", "redis": readiness.jsonValue,
                 "error": BatonError.unavailable("Redis is not ready: \(readiness.problems.joined(separator: "; "))").jsonValue],
                status: .serviceUnavailable)
        }
        router.get("metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: services.metrics.render() + services.settings.extraMetrics())))
        }
        router.get("openapi.json") { _, _ in
            JSONResponse.make(text: OpenAPIDocument.json)
        }
    }
}
