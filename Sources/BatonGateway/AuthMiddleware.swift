import BatonStore
import Foundation
import Hummingbird

/// Requires `Authorization: Bearer <key>` — or the dashboard's session cookie — and puts the
/// caller's ``Identity`` in the context. A missing or unknown key answers 401 (`unauthorized`)
/// with `WWW-Authenticate: Bearer`. A request signed in with the cookie that changes anything
/// (any method but GET and HEAD) must carry the session's `X-Baton-CSRF` token, or it is 403:
/// a page of another site can make the browser send the cookie, never the token.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = GatewayContext

    let authenticator: APIKeyAuthenticator
    let store: BatonStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if request.headers[.authorization] == nil, let session = try await DashboardRoutes.session(of: request, store) {
            if request.method != .get && request.method != .head && request.headers[.csrfToken] != session.csrf {
                throw DashboardRoutes.csrfRefusal
            }
            context.identity = Identity(userID: session.userID, isAdmin: session.isAdmin)
        } else {
            context.identity = try Self.identity(of: request, authenticator)
        }
        return try await next(request, context)
    }

    /// The identity of the request's bearer key, or `unauthorized`.
    static func identity(of request: Request, _ authenticator: APIKeyAuthenticator) throws -> Identity {
        guard let header = request.headers[.authorization] else { throw GatewayError.unauthorized }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer",
              let identity = authenticator.identity(forKey: parts[1].trimmingCharacters(in: .whitespaces))
        else { throw GatewayError.unauthorized }
        return identity
    }
}
