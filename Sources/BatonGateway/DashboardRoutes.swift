import BatonCore
import BatonStore
import Foundation
import Hummingbird

/// The web dashboard at `/dashboard`: static pages shipped as resources (`Dashboard/`), no build
/// step and no external requests. Signing in exchanges an API key (form field `api_key`) for an
/// HttpOnly, SameSite=Strict session cookie; the pages then call the `/v1` API with that cookie,
/// and every state-changing call must echo the session's CSRF token in `X-Baton-CSRF` (given to
/// the page in a `<meta>` tag, never in a URL). The key itself is never stored or logged.
struct DashboardRoutes {
    let services: GatewayServices
    let authenticator: APIKeyAuthenticator

    /// The session cookie's name.
    static let cookieName = "baton_session"
    /// How long a session lasts.
    static let sessionSeconds = 12 * 3600

    func register(on router: Router<GatewayContext>) {
        let dashboard = router.group("dashboard")
        dashboard.get("login") { request, _ in
            Self.page("login.html", csrf: "", treeID: "", status: .ok)
        }
        dashboard.post("login", use: signIn)
        dashboard.post("logout", use: signOut)
        dashboard.get { request, _ in try await page("index.html", request) }
        dashboard.get("executors") { request, _ in try await page("executors.html", request) }
        dashboard.get("trees/:id") { request, context in
            let treeID = try RequestInput.pathID(context)
            return try await page("tree.html", request, treeID: treeID)
        }
        dashboard.get("static/:file") { _, context in
            guard let name = context.parameters.get("file"), let asset = DashboardAssets.staticFiles[name] else {
                return Response(status: .notFound)
            }
            var headers = Self.securityHeaders
            headers[.contentType] = asset.contentType
            headers[.cacheControl] = "no-cache"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: asset.text)))
        }
    }

    // MARK: Sign in and out

    /// `POST /dashboard/login` with `api_key=…` (form-encoded): a known key gets a session cookie
    /// and goes to `/dashboard`; an unknown one back to the form with `?error=1`.
    @Sendable func signIn(_ request: Request, context: GatewayContext) async throws -> Response {
        // The form is one field: a larger body is refused as such (413), never a 500.
        let body = try await RequestInput(maxBodyBytes: 8192).bytes(request)
        let form = Self.formFields(String(buffer: body))
        guard let key = form["api_key"], let identity = authenticator.identity(forKey: key) else {
            return Self.redirect("/dashboard/login?error=1")
        }
        let token = Self.randomToken()
        let session = DashboardSession(userID: identity.userID, isAdmin: identity.isAdmin, csrf: Self.randomToken())
        try await services.store.createSession(session, tokenDigest: Self.digest(token), seconds: Self.sessionSeconds)
        var response = Self.redirect("/dashboard")
        response.headers[.setCookie] =
            "\(Self.cookieName)=\(token); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(Self.sessionSeconds)"
        return response
    }

    /// `POST /dashboard/logout` (with `X-Baton-CSRF`): ends the session and clears the cookie.
    @Sendable func signOut(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let token = Self.sessionToken(request) else { return Response(status: .noContent, headers: Self.clearCookie) }
        let digest = Self.digest(token)
        if let session = try await services.store.session(tokenDigest: digest) {
            guard request.headers[.csrfToken] == session.csrf else { throw Self.csrfRefusal }
            try await services.store.dropSession(tokenDigest: digest)
        }
        return Response(status: .noContent, headers: Self.clearCookie)
    }

    // MARK: Pages

    /// A page for a signed-in caller; without a session, the way to the sign-in form.
    private func page(_ name: String, _ request: Request, treeID: String = "") async throws -> Response {
        guard let session = try await Self.session(of: request, services.store) else {
            return Self.redirect("/dashboard/login")
        }
        return Self.page(name, csrf: session.csrf, treeID: treeID, status: .ok)
    }

    private static func page(_ name: String, csrf: String, treeID: String, status: HTTPResponse.Status) -> Response {
        let template = DashboardAssets.pages[name] ?? ""
        let html = template.replacingOccurrences(of: "{{CSRF}}", with: htmlEscaped(csrf))
            .replacingOccurrences(of: "{{TREE_ID}}", with: htmlEscaped(treeID))
        var headers = securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    /// Everything the pages load comes from this origin; they may not be framed.
    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy: "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        .xFrameOptions: "DENY",
        .referrerPolicy: "no-referrer",
        .xContentTypeOptions: "nosniff",
    ]

    private static var clearCookie: HTTPFields {
        [.setCookie: "\(cookieName)=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"]
    }

    private static func redirect(_ location: String) -> Response {
        var headers = securityHeaders
        headers[.location] = location
        return Response(status: .seeOther, headers: headers)
    }

    // MARK: Sessions (also read by AuthMiddleware)

    /// The refusal of a state-changing request made with the cookie but without its token.
    static var csrfRefusal: BatonError {
        .forbidden("A request signed in with the dashboard cookie must send the page's X-Baton-CSRF token")
    }

    /// The session the request's cookie names, if it is live.
    static func session(of request: Request, _ store: BatonStore) async throws -> DashboardSession? {
        guard let token = sessionToken(request) else { return nil }
        return try await store.session(tokenDigest: digest(token))
    }

    /// The value of the `baton_session` cookie (64 hex characters), if the request has one.
    static func sessionToken(_ request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if parts.count == 2, parts[0] == cookieName, parts[1].utf8.count == 64,
                   parts[1].utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) {
                    return parts[1]
                }
            }
        }
        return nil
    }

    static func digest(_ token: String) -> String { SHA256.hex(Array(token.utf8)) }

    /// 32 random bytes as hex.
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    /// `a=1&b=x%20y` as a dictionary (`+` is a space; the first value of a repeated name wins).
    static func formFields(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String? {
                String(part).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
            }
            guard let name = parts.first.flatMap(decode), fields[name] == nil else { continue }
            fields[name] = parts.count == 2 ? decode(parts[1]) : ""
        }
        return fields
    }

    static func htmlEscaped(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}

/// The dashboard's files, read once from the module's resources.
enum DashboardAssets {
    struct Asset: Sendable {
        let text: String
        let contentType: String
    }

    static let pages: [String: String] = Dictionary(uniqueKeysWithValues: ["login.html", "index.html", "tree.html", "executors.html"].map {
        ($0, load($0))
    })

    static let staticFiles: [String: Asset] = [
        "app.js": Asset(text: load("app.js"), contentType: "text/javascript; charset=utf-8"),
        "style.css": Asset(text: load("style.css"), contentType: "text/css; charset=utf-8"),
    ]

    private static func load(_ name: String) -> String {
        let base = (name as NSString).deletingPathExtension, ext = (name as NSString).pathExtension
        guard let url = Bundle.module.url(forResource: base, withExtension: ext, subdirectory: "Dashboard"),
              let text = try? String(contentsOf: url, encoding: .utf8)
        else { fatalError("dashboard file \(name) is missing from the BatonGateway resources") }
        return text
    }
}
