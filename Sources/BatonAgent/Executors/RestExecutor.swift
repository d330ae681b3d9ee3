import BatonCore
import Foundation
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `rest_executor`: one HTTP(S) request.
///
/// Inputs:
/// - `url` (required): an absolute `http` or `https` URL;
/// - `method`: default `GET`;
/// - `headers`: an object of header values;
/// - `query` (or `params`): an object added to the URL's query (an array value repeats the name);
/// - `json`: any JSON value sent as the body with `Content-Type: application/json`, or
///   `body`: a string sent as is (not both);
/// - `timeout_s`: default 30.
///
/// Result: `{"status_code", "headers", "json" | "text", "url", "method"}` — `json` when the body
/// parses as JSON, otherwise `text` (UTF-8, invalid bytes replaced); header names are lower-case;
/// `url` is the final URL after redirects. A status outside 200–299 fails the task with
/// `HTTP <status>` and the result as partial result. Cancellation cancels the request.
public struct RestExecutor: Executor {
    /// `rest_executor`.
    public let name = "rest_executor"

    /// The timeout when `inputs.timeout_s` is absent.
    public static let defaultTimeout = 30.0

    /// How often a running request looks at the cancellation flag.
    static let cancellationPollInterval: Duration = .milliseconds(50)

    /// Creates the executor.
    public init() {}

    /// Sends the request described by the inputs.
    public func execute(inputs: JSONValue, context: ExecutionContext) async throws -> JSONValue {
        let request = try Self.request(from: ExecutorInputs(inputs))
        let method = request.httpMethod ?? "GET"
        let (data, response) = try await Self.send(request, context: context)

        var headers: [String: JSONValue] = [:]
        for (key, value) in response.allHeaderFields {
            headers[String(describing: key).lowercased()] = .string(String(describing: value))
        }
        var result: [String: JSONValue] = [
            "status_code": .int(response.statusCode),
            "headers": .object(headers),
            "url": .string(response.url?.absoluteString ?? request.url?.absoluteString ?? ""),
            "method": .string(method),
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

    /// Builds the request, naming the offending input field on any error.
    static func request(from reader: ExecutorInputs) throws(ExecutorFailure) -> URLRequest {
        let address = try reader.requiredString("url")
        guard var components = URLComponents(string: address),
              let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = components.host, !host.isEmpty else {
            throw ExecutorFailure("inputs.url must be an absolute http or https URL, not '\(address)'")
        }

        let method = (try reader.string("method") ?? "GET").uppercased()
        let tokenCharacters = CharacterSet(charactersIn: "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        guard !method.isEmpty, method.unicodeScalars.allSatisfy(tokenCharacters.contains) else {
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

        var request = URLRequest(url: url)
        request.httpMethod = method
        request.timeoutInterval = try reader.positiveSeconds("timeout_s") ?? defaultTimeout
        let headers = try reader.stringMap("headers") ?? [:]
        for (name, value) in headers {
            request.setValue(value, forHTTPHeaderField: name)
        }

        let json = reader.value("json")
        let body = try reader.string("body")
        switch (json, body) {
        case (.some, .some):
            throw ExecutorFailure("inputs.json and inputs.body cannot both be given")
        case (.some(let json), nil):
            request.httpBody = json.jsonData
            if !headers.keys.contains(where: { $0.lowercased() == "content-type" }) {
                request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            }
        case (nil, .some(let body)):
            request.httpBody = Data(body.utf8)
        case (nil, nil):
            break
        }
        return request
    }

    /// Sends the request in a child task while another watches the cancellation flag and the
    /// overall deadline (`timeoutInterval` alone is an idle timeout); whichever ends first
    /// cancels the other.
    static func send(_ request: URLRequest, context: ExecutionContext) async throws -> (Data, HTTPURLResponse) {
        let address = request.url?.absoluteString ?? ""
        let timeout = request.timeoutInterval
        let timedOut = ExecutorFailure("request to \(address) timed out after \(ExecutorSupport.formatSeconds(timeout)) s")
        return try await withThrowingTaskGroup(of: (Data, HTTPURLResponse)?.self) { group in
            group.addTask {
                try await perform(request)
            }
            group.addTask {
                let deadline = ContinuousClock.now + .seconds(timeout)
                while !context.isCancelled {
                    if ContinuousClock.now >= deadline { throw timedOut }
                    try? await Task.sleep(for: cancellationPollInterval)
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
            } catch let error as URLError where error.code == .timedOut {
                throw timedOut
            } catch let error as URLError where error.code == .cancelled {
                throw ExecutorFailure("cancelled")
            } catch is CancellationError {
                throw ExecutorFailure("cancelled")
            } catch {
                throw ExecutorFailure("request to \(address) failed: \(error.localizedDescription)")
            }
        }
    }

    /// One request on a fresh ephemeral session; cancelling the Swift task cancels the request.
    private static func perform(_ request: URLRequest) async throws -> (Data, HTTPURLResponse) {
        let session = URLSession(configuration: .ephemeral)
        defer { session.finishTasksAndInvalidate() }
        let handle = RequestHandle()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let task = session.dataTask(with: request) { data, response, error in
                    if let error {
                        continuation.resume(throwing: error)
                    } else if let http = response as? HTTPURLResponse {
                        continuation.resume(returning: (data ?? Data(), http))
                    } else {
                        continuation.resume(throwing: URLError(.badServerResponse))
                    }
                }
                handle.start(task)
            }
        } onCancel: {
            handle.cancel()
        }
    }
}

/// The data task of a request, so that a cancellation arriving before or after it starts cancels it.
private final class RequestHandle: Sendable {
    private let state = Mutex<(task: URLSessionDataTask?, cancelled: Bool)>((nil, false))

    func start(_ task: URLSessionDataTask) {
        let cancelled = state.withLock { state in
            state.task = task
            return state.cancelled
        }
        task.resume()
        if cancelled { task.cancel() }
        // A cancel that raced with the lines above has seen the task and cancelled it itself.
    }

    func cancel() {
        let task = state.withLock { state in
            state.cancelled = true
            return state.task
        }
        task?.cancel()
    }
}
