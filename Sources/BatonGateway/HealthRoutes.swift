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
        router.get("readyz") { _, _ in
            do {
                let reply = try await services.store.redis.send(RedisCommand("PING"), timeout: .seconds(2))
                guard reply.string == "PONG" else { throw BatonError.unavailable("Redis answered \(reply)") }
                return JSONResponse.make(["status": "ready"])
            } catch {
                return JSONResponse.error(.unavailable("Redis is not reachable"))
            }
        }
        router.get("metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: services.metrics.render())))
        }
        router.get("openapi.json") { _, _ in
            JSONResponse.make(text: OpenAPIDocument.json)
        }
    }
}
