import Foundation
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP request and its response on a session of its own, for ``RestExecutor``: redirects
/// are not followed (the 3xx response is returned, so the caller can check the next destination),
/// and the body is read only up to a limit.
///
/// URLSession calls the delegate methods on the session's own operation queue, never on Swift's
/// cooperative pool.
final class HTTPExchange: NSObject, URLSessionDataDelegate, Sendable {
    /// Why an exchange ended without a complete response.
    enum Failure: Error {
        /// No response head arrived: name resolution, connection or TLS failed, or nothing was answered.
        case noResponse(any Error)
        /// The response head arrived, then reading failed.
        case broken(any Error)
        /// The body is larger than the limit (`declared`: the `Content-Length`, when it said so).
        case bodyTooLarge(declared: Int64?)
        /// ``cancel()`` was called.
        case cancelled
    }

    private struct State {
        var continuation: CheckedContinuation<(HTTPURLResponse, Data), any Error>?
        var task: URLSessionDataTask?
        var response: HTTPURLResponse?
        var body = Data()
        var failure: Failure?
        var cancelled = false
    }

    private let bodyLimit: Int
    private let state = Mutex(State())

    /// - Parameter bodyLimit: the most body bytes accepted (after content decoding).
    init(bodyLimit: Int) {
        self.bodyLimit = bodyLimit
    }

    /// Whether the response head has arrived.
    var answered: Bool { state.withLock { $0.response != nil } }

    /// Sends the request and returns the response with its whole body.
    /// - Throws: ``Failure``.
    func run(_ request: URLRequest) async throws -> (HTTPURLResponse, Data) {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpCookieStorage = nil
        configuration.urlCache = nil
        configuration.urlCredentialStorage = nil
        let session = URLSession(configuration: configuration, delegate: self, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let task = session.dataTask(with: request)
                let cancelled = state.withLock { state in
                    state.continuation = continuation
                    state.task = task
                    return state.cancelled
                }
                if cancelled {
                    finish(error: Failure.cancelled)
                } else {
                    task.resume()
                }
            }
        } onCancel: {
            cancel()
        }
    }

    /// Stops the exchange; ``run(_:)`` throws ``Failure/cancelled``.
    func cancel() {
        let task = state.withLock { state in
            state.cancelled = true
            if state.failure == nil { state.failure = .cancelled }
            return state.task
        }
        task?.cancel()
    }

    // MARK: URLSessionDataDelegate

    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }

    func urlSession(
        _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
        completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void
    ) {
        let declared = response.expectedContentLength
        let allowed = state.withLock { state in
            state.response = response as? HTTPURLResponse
            if declared > Int64(bodyLimit) {
                state.failure = state.failure ?? .bodyTooLarge(declared: declared)
                return false
            }
            return true
        }
        completionHandler(allowed ? .allow : .cancel)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let tooLarge = state.withLock { state in
            guard state.failure == nil else { return false }
            if data.count > bodyLimit - state.body.count {
                state.failure = .bodyTooLarge(declared: nil)
                return true
            }
            state.body.append(data)
            return false
        }
        if tooLarge { dataTask.cancel() }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        finish(error: error)
    }

    /// Resumes ``run(_:)`` once, with the recorded failure, the transport error or the response.
    private func finish(error: (any Error)?) {
        let (continuation, outcome) = state.withLock { state -> (CheckedContinuation<(HTTPURLResponse, Data), any Error>?, Result<(HTTPURLResponse, Data), Failure>) in
            let continuation = state.continuation
            state.continuation = nil
            if let failure = state.failure { return (continuation, .failure(failure)) }
            if let error { return (continuation, .failure(state.response == nil ? .noResponse(error) : .broken(error))) }
            guard let response = state.response else { return (continuation, .failure(.noResponse(URLError(.badServerResponse)))) }
            return (continuation, .success((response, state.body)))
        }
        continuation?.resume(with: outcome.mapError { $0 as any Error })
    }
}
