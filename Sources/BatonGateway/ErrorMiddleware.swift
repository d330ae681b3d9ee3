import BatonCore
import Hummingbird
import Logging
import NIOCore
import RedisClient

/// Turns every error into Baton's answer `{"error": {"code", "message", "field"?}}` with the
/// status of ``BatonError/httpStatus``: bad input of any kind is a 4xx; only an unreachable
/// Redis (503) or a bug (500, logged) is a 5xx. A known path with an unsupported method is 405.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = GatewayContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return Self.response(for: error, request: request, logger: context.logger)
        }
    }

    static func response(for error: any Error, request: Request, logger: Logger) -> Response {
        switch error {
        case let error as BatonError:
            if error.code == .internal {
                logger.error("request failed", metadata: ["baton.error": "\(error)", "baton.path": "\(request.uri.path)"])
            }
            var headers: HTTPFields = [:]
            if error.code == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
            if error.code == .unavailable { headers[.retryAfter] = "1" }
            return JSONResponse.error(error, headers: headers)
        case is NIOTooManyBytesError:
            return JSONResponse.error(.payloadTooLarge("Request body is too large"))
        case let error as RedisError:
            logger.warning("redis unavailable", metadata: ["baton.error": "\(error)"])
            var message = "Redis is unavailable; retry later"
            if case .server(let reply) = error, reply.hasPrefix("OOM") { message = "Redis is out of memory (maxmemory reached); retry later" }
            return JSONResponse.error(.unavailable(message), headers: [.retryAfter: "1"])
        case let error as HTTPError:
            return httpError(error, request: request)
        case let error as any HTTPResponseError:
            let status = error.status
            return JSONResponse.make(
                .object(["error": .object(["code": .string(code(for: status)), "message": .string(status.reasonPhrase)])]),
                status: status)
        default:
            logger.error("request failed", metadata: ["baton.error": "\(error)", "baton.path": "\(request.uri.path)"])
            return JSONResponse.error(.internal("Internal error"))
        }
    }

    /// The error in Baton's vocabulary (for channels other than an HTTP answer, e.g. a WebSocket).
    static func batonError(for error: any Error, logger: Logger) -> BatonError {
        switch error {
        case let error as BatonError: return error
        case is RedisError: return .unavailable("Redis is unavailable; retry later")
        default:
            logger.error("request failed", metadata: ["baton.error": "\(error)"])
            return .internal("Internal error")
        }
    }

    private static func httpError(_ error: HTTPError, request: Request) -> Response {
        if error.status == .notFound {
            let allowed = RouteTable.methods(matching: request.uri.path)
            if !allowed.isEmpty {
                return JSONResponse.make(
                    .object(["error": .object([
                        "code": .string("method_not_allowed"),
                        "message": .string("\(request.method.rawValue) is not allowed on \(request.uri.path); allowed: \(allowed.joined(separator: ", "))"),
                    ])]),
                    status: .methodNotAllowed, headers: [.allow: allowed.joined(separator: ", ")])
            }
            return JSONResponse.error(.notFound("No route for \(request.method.rawValue) \(request.uri.path)"))
        }
        let message = error.body ?? error.status.reasonPhrase
        return JSONResponse.make(
            .object(["error": .object(["code": .string(code(for: error.status)), "message": .string(message)])]),
            status: error.status, headers: error.headers)
    }

    private static func code(for status: HTTPResponse.Status) -> String {
        switch status.code {
        case 400: "invalid_argument"
        case 401: "unauthorized"
        case 403: "forbidden"
        case 404: "not_found"
        case 405: "method_not_allowed"
        case 409: "conflict"
        case 413: "payload_too_large"
        case 422: "validation_failed"
        case 503: "unavailable"
        default: status.code >= 500 ? "internal" : "invalid_argument"
        }
    }
}
