import Foundation
import Hummingbird

/// Requires `Authorization: Bearer <key>` and puts the key's ``Identity`` in the context.
/// A missing or unknown key answers 401 (`unauthorized`) with `WWW-Authenticate: Bearer`.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = GatewayContext

    let authenticator: APIKeyAuthenticator

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.identity = try Self.identity(of: request, authenticator)
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
