import BatonCore
import Foundation
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `rest_executor`: one HTTP(S) request to a destination the agent's ``RestPolicy`` permits.
///
/// Inputs:
/// - `url` (required): an absolute `http` or `https` URL;
/// - `method`: default `GET`;
/// - `headers`: an object of header values (`Host`, `Content-Length`, `Transfer-Encoding` and
///   `Connection` are set by the agent and refused; names must be HTTP tokens, values must not
///   contain CR, LF or NUL);
/// - `query` (or `params`): an object added to the URL's query (an array value repeats the name);
/// - `json`: any JSON value sent as the body with `Content-Type: application/json`, or
///   `body`: a string sent as is (not both);
/// - `timeout_s`: more than 0, at most 604800 (default `agent.rest_timeout_s`, 30); it bounds the
///   whole call, name resolution and redirects included.
///
/// Result: `{"status_code", "headers", "json" | "text", "url", "method"}` — `json` when the body
/// parses as JSON, otherwise `text` (UTF-8, invalid bytes replaced); header names are lower-case;
/// `url` is the final URL after redirects. A status outside 200–299 fails the task with
/// `HTTP <status>` and the result as partial result. Cancellation cancels the request.
///
/// Destinations: the host is resolved by the agent and every address it resolves to must be
/// permitted by the policy (by default public addresses only, never the agent's Redis). Redirects
/// (301, 302, 303, 307, 308) are followed by the executor itself, at most ``maxRedirects``, each
/// target checked the same way; 301–303 turn a non-`HEAD` request into a body-less `GET`, and
/// `Authorization`/`Cookie` headers are dropped when a redirect leaves the origin.
/// A refused destination and every failure before a response head arrives — no such host,
/// connection refused, no answer within the timeout, TLS failure — end with the one message
/// `destination not allowed or unreachable: <host>`, so a task cannot tell them apart.
///
/// An `http` request connects to the very address that was checked (the URL's host is replaced
/// by it and sent as `Host`), so a DNS answer that changes after the check cannot redirect it.
/// **Residual risk:** an `https` request must name the host for TLS (SNI and certificate
/// checks), and URLSession offers no way to pin the connection to an address, so libcurl resolves
/// the name again; a DNS server that answers differently within that instant (rebinding) can
/// reach a refused address over `https`. A proxy set in the agent's environment (`https_proxy`,
/// …) is used by libcurl as is.
///
/// The response body may be at most `agent.rest_max_response_bytes` (after content decoding); a
/// larger one fails the task (`response body is … bytes; agent.rest_max_response_bytes allows …`).
public struct RestExecutor: Executor {
    /// `rest_executor`.
    public let name = "rest_executor"

    /// Which destinations may be called.
    public let policy: RestPolicy
    /// The timeout when `inputs.timeout_s` is absent.
    public let defaultTimeout: Double
    /// The largest response body accepted, in bytes.
    public let maxResponseBytes: Int

    /// The default of ``defaultTimeout``.
    public static let standardTimeout = 30.0
    /// The default of ``maxResponseBytes``: 1 MiB.
    public static let standardMaxResponseBytes = 1 << 20
    /// The most redirects followed for one call.
    public static let maxRedirects = 5
    /// The longest `inputs.timeout_s` accepted: 7 days.
    public static let maxTimeout = 604_800.0

    /// How often a running request looks at the cancellation flag.
    static let cancellationPollInterval: Duration = .milliseconds(50)

    /// Headers the agent sets itself.
    static let reservedHeaders: Set<String> = ["host", "content-length", "transfer-encoding", "connection"]
    /// Headers not carried to another origin by a redirect.
    static let credentialHeaders: Set<String> = ["authorization", "cookie", "proxy-authorization"]

    /// Creates the executor.
    /// - Parameters:
    ///   - policy: the destinations permitted (default: public addresses only).
    ///   - defaultTimeout: seconds when `inputs.timeout_s` is absent (`agent.rest_timeout_s`).
    ///   - maxResponseBytes: the largest body accepted (`agent.rest_max_response_bytes`).
    public init(
        policy: RestPolicy = RestPolicy(), defaultTimeout: Double = standardTimeout,
        maxResponseBytes: Int = standardMaxResponseBytes
    ) {
        self.policy = policy
        self.defaultTimeout = defaultTimeout
        self.maxResponseBytes = maxResponseBytes
    }

    /// Sends the request described by the inputs.
    public func execute(inputs: JSONValue, context: ExecutionContext) async throws -> JSONValue {
        let call = try Self.call(from: ExecutorInputs(inputs), defaultTimeout: defaultTimeout)
        let (url, response, data) = try await send(call, context: context)

        var headers: [String: JSONValue] = [:]
        for (key, value) in response.allHeaderFields {
            headers[String(describing: key).lowercased()] = .string(String(describing: value))
        }
        var result: [String: JSONValue] = [
            "status_code": .int(response.statusCode),
            "headers": .object(headers),
            "url": .string(url.absoluteString),
            "method": .string(call.method),
        ]
        if !data.isEmpty, let json = try? JSONValue(parsing: data) {
            result["json"] = json
        } else {
            result["text"] = .string(String(decoding: data, as: UTF8.self))
        }
        guard (200..<300).contains(response.statusCode) else {
            throw ExecutorFailure("HTTP \(response.statusCode)", partialResult: .object(result))
        }
        return .object(result)
    }

    /// The one message of a refused or unreachable destination.
    static func unreachable(_ host: String) -> ExecutorFailure {
        ExecutorFailure("destination not allowed or unreachable: \(host)")
    }

    // MARK: Sending

    /// What is known of the hop in progress, for the deadline watcher's message.
    private final class Hop: Sendable {
        private let state = Mutex<(host: String, exchange: HTTPExchange?)>(("", nil))

        func begin(host: String) { state.withLock { $0 = (host, nil) } }
        func attach(_ exchange: HTTPExchange) { state.withLock { $0.exchange = exchange } }

        /// The failure to report when the deadline passes now.
        func timeoutFailure(url: URL, seconds: Double) -> ExecutorFailure {
            let (host, exchange) = state.withLock { ($0.host, $0.exchange) }
            guard exchange?.answered == true else { return RestExecutor.unreachable(host) }
            return ExecutorFailure("request to \(url.absoluteString) timed out after \(ExecutorSupport.formatSeconds(seconds)) s")
        }
    }

    /// Follows the call through its redirects in a child task while another watches the
    /// cancellation flag and the overall deadline; whichever ends first cancels the other.
    func send(_ call: Call, context: ExecutionContext) async throws -> (URL, HTTPURLResponse, Data) {
        let hop = Hop()
        let deadline = ContinuousClock.now + ExecutorSupport.duration(seconds: call.timeout)
        return try await withThrowingTaskGroup(of: (URL, HTTPURLResponse, Data)?.self) { group in
            group.addTask {
                try await follow(call, hop: hop, deadline: deadline)
            }
            group.addTask {
                while !context.isCancelled {
                    if ContinuousClock.now >= deadline { throw hop.timeoutFailure(url: call.url, seconds: call.timeout) }
                    try? await Task.sleep(for: Self.cancellationPollInterval)
                }
                return nil
            }
            defer { group.cancelAll() }
            do {
                guard let first = try await group.next(), let answer = first else {
                    throw ExecutorFailure("cancelled")
                }
                return answer
            } catch let error as ExecutorFailure {
                throw error
            } catch is CancellationError {
                throw ExecutorFailure("cancelled")
            } catch {
                throw ExecutorFailure("request to \(call.url.absoluteString) failed: \(error.localizedDescription)")
            }
        }
    }

    /// Runs the hops: check the destination, send, and for a redirect start over with its target.
    private func follow(_ call: Call, hop: Hop, deadline: ContinuousClock.Instant) async throws -> (URL, HTTPURLResponse, Data) {
        var call = call
        var redirects = 0
        while true {
            let destination = try Destination(call.url)
            hop.begin(host: destination.displayHost)
            let address = try await checkedAddress(destination)
            try Task.checkCancellation()

            let exchange = HTTPExchange(bodyLimit: maxResponseBytes)
            hop.attach(exchange)
            let request = call.request(to: destination, via: address, remaining: ContinuousClock.now.duration(to: deadline))
            let response: HTTPURLResponse
            let data: Data
            do {
                (response, data) = try await exchange.run(request)
            } catch HTTPExchange.Failure.noResponse {
                throw Self.unreachable(destination.displayHost)
            } catch HTTPExchange.Failure.bodyTooLarge(let declared) {
                if let declared {
                    throw ExecutorFailure("response body is \(declared) bytes; agent.rest_max_response_bytes allows \(maxResponseBytes)")
                }
                throw ExecutorFailure("response body is larger than agent.rest_max_response_bytes (\(maxResponseBytes) bytes)")
            } catch HTTPExchange.Failure.cancelled {
                throw CancellationError()
            } catch HTTPExchange.Failure.broken(let error) {
                if let error = error as? URLError, error.code == .timedOut {
                    throw hop.timeoutFailure(url: call.url, seconds: call.timeout)
                }
                throw ExecutorFailure("request to \(call.url.absoluteString) failed: \(error.localizedDescription)")
            }

            guard let next = call.redirected(by: response) else { return (call.url, response, data) }
            guard redirects < Self.maxRedirects else {
                throw ExecutorFailure("too many redirects (more than \(Self.maxRedirects))")
            }
            redirects += 1
            call = next
        }
    }

    /// Resolves the destination's host and returns the address to connect to, once every
    /// address it resolves to is permitted.
    private func checkedAddress(_ destination: Destination) async throws(ExecutorFailure) -> IPAddress {
        let addresses = await AddressResolver.resolve(destination.lookupHost)
        guard let first = addresses.first,
              addresses.allSatisfy({ policy.permits($0, host: destination.lookupHost, port: destination.port) }) else {
            throw Self.unreachable(destination.displayHost)
        }
        return first
    }
}

// MARK: - The call

extension RestExecutor {
    /// A request as the inputs describe it, before any destination check.
    struct Call: Sendable {
        var url: URL
        var method: String
        /// Header names as given, in a stable order.
        var headers: [(name: String, value: String)]
        var body: Data?
        var timeout: Double

        /// The request of this hop: an `http` URL names the checked address, the host goes in `Host`.
        func request(to destination: Destination, via address: IPAddress, remaining: Duration) -> URLRequest {
            var target = url
            var hostHeader: String?
            if destination.scheme == "http", var components = URLComponents(url: url, resolvingAgainstBaseURL: false) {
                components.percentEncodedHost = address.urlHost
                if let pinned = components.url {
                    target = pinned
                    hostHeader = destination.hostHeader
                }
            }
            var request = URLRequest(url: target)
            request.httpMethod = method
            // Only a backstop: the executor's own deadline ends the call on time. FoundationNetworking
            // truncates this to whole seconds (0.5 would time out at once), so it is rounded up.
            request.timeoutInterval = max(0, ExecutorSupport.seconds(remaining)).rounded(.up) + 1
            request.httpShouldHandleCookies = false
            for (name, value) in headers {
                request.setValue(value, forHTTPHeaderField: name)
            }
            if let hostHeader { request.setValue(hostHeader, forHTTPHeaderField: "Host") }
            request.httpBody = body
            return request
        }

        /// The next call when `response` is a redirect that can be followed, else nil.
        func redirected(by response: HTTPURLResponse) -> Call? {
            guard [301, 302, 303, 307, 308].contains(response.statusCode),
                  let location = response.value(forHTTPHeaderField: "Location"),
                  let resolved = URL(string: location, relativeTo: url)?.absoluteURL,
                  // Re-serialised, so that libcurl reads the very host that was parsed and checked.
                  let next = URLComponents(url: resolved, resolvingAgainstBaseURL: true)?.url,
                  let scheme = next.scheme?.lowercased(), scheme == "http" || scheme == "https",
                  next.host?.isEmpty == false else { return nil }
            var call = self
            call.url = next
            if response.statusCode != 307 && response.statusCode != 308 && method != "HEAD" {
                if response.statusCode == 303 || method == "POST" {
                    call.method = "GET"
                    call.body = nil
                    call.headers.removeAll { $0.name.lowercased() == "content-type" }
                }
            }
            if Destination.origin(of: next) != Destination.origin(of: url) {
                call.headers.removeAll { RestExecutor.credentialHeaders.contains($0.name.lowercased()) }
            }
            return call
        }
    }

    /// Where a URL points: scheme, host and port.
    struct Destination: Sendable {
        var scheme: String
        /// The host as the URL writes it (IPv6 in brackets), for messages and `Host`.
        var displayHost: String
        /// The host as the resolver takes it (no brackets).
        var lookupHost: String
        var port: Int
        /// Whether the URL names the port.
        var explicitPort: Bool

        init(_ url: URL) throws(ExecutorFailure) {
            guard let components = URLComponents(url: url, resolvingAgainstBaseURL: false),
                  let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
                  let host = components.percentEncodedHost, !host.isEmpty else {
                throw ExecutorFailure("inputs.url must be an absolute http or https URL, not '\(url.absoluteString)'")
            }
            self.scheme = scheme
            displayHost = host
            lookupHost = (components.host ?? host).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            explicitPort = components.port != nil
            port = components.port ?? (scheme == "https" ? 443 : 80)
        }

        /// The `Host` header value: the host, and the port when the URL names it.
        var hostHeader: String { explicitPort ? "\(displayHost):\(port)" : displayHost }

        /// Scheme, lower-case host and port, to tell whether a redirect leaves the origin.
        static func origin(of url: URL) -> String? {
            guard let destination = try? Destination(url) else { return nil }
            return "\(destination.scheme)://\(destination.displayHost.lowercased()):\(destination.port)"
        }
    }

    /// Builds the call, naming the offending input field on any error.
    static func call(from reader: ExecutorInputs, defaultTimeout: Double) throws(ExecutorFailure) -> Call {
        let address = try reader.requiredString("url")
        guard var components = URLComponents(string: address),
              let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = components.host, !host.isEmpty else {
            throw ExecutorFailure("inputs.url must be an absolute http or https URL, not '\(address)'")
        }

        let method = (try reader.string("method") ?? "GET").uppercased()
        guard isToken(method) else {
            throw ExecutorFailure("inputs.method must be an HTTP method such as GET or POST, not '\(method)'")
        }

        let queryKey = reader.value("query") != nil ? "query" : "params"
        if let query = reader.value(queryKey) {
            guard case .object(let members) = query else {
                throw ExecutorFailure("inputs.\(queryKey) must be an object, not \(query.typeName)")
            }
            var items = components.queryItems ?? []
            for (name, value) in members.sorted(by: { $0.key < $1.key }) {
                let values = value.arrayValue ?? [value]
                for element in values {
                    guard let text = ExecutorSupport.scalarText(element) else {
                        throw ExecutorFailure("inputs.\(queryKey).\(name) must be a string, number, boolean or an array of them")
                    }
                    items.append(URLQueryItem(name: name, value: text))
                }
            }
            components.queryItems = items
        }
        guard let url = components.url else {
            throw ExecutorFailure("inputs.url must be an absolute http or https URL, not '\(address)'")
        }

        let timeout = try reader.seconds("timeout_s", upTo: maxTimeout) ?? defaultTimeout
        var headers: [(name: String, value: String)] = []
        for (name, value) in (try reader.stringMap("headers") ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard isToken(name) else { throw ExecutorFailure("inputs.headers: '\(name)' is not a valid header name") }
            guard !reservedHeaders.contains(name.lowercased()) else {
                throw ExecutorFailure("inputs.headers.\(name) is set by the agent and cannot be given")
            }
            guard !value.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) else {
                throw ExecutorFailure("inputs.headers.\(name) must not contain CR, LF or NUL")
            }
            headers.append((name, value))
        }

        var body: Data?
        let json = reader.value("json")
        let text = try reader.string("body")
        switch (json, text) {
        case (.some, .some):
            throw ExecutorFailure("inputs.json and inputs.body cannot both be given")
        case (.some(let json), nil):
            body = json.jsonData
            if !headers.contains(where: { $0.name.lowercased() == "content-type" }) {
                headers.append(("Content-Type", "application/json"))
            }
        case (nil, .some(let text)):
            body = Data(text.utf8)
        case (nil, nil):
            break
        }
        return Call(url: url, method: method, headers: headers, body: body, timeout: timeout)
    }

    /// Whether `text` is an HTTP token (method or header name).
    private static func isToken(_ text: String) -> Bool {
        let tokenCharacters = Set("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        return !text.isEmpty && text.allSatisfy(tokenCharacters.contains)
    }
}
