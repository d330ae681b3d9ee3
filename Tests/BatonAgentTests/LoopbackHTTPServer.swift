import BatonCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A tiny HTTP/1.1 server on 127.0.0.1 and a free port, one thread per connection, for the
/// `rest_executor` tests. Routes:
/// - `/echo`: 200 with a JSON object describing the request (`method`, `path`, `query`, `headers`, `body`);
/// - `/text`: 200 `hello` as `text/plain`;
/// - `/slow`: 200 after three seconds;
/// - anything else: 404 `{"error": "not found"}`.
final class LoopbackHTTPServer: Sendable {
    let port: Int
    private let listener: Int32

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(descriptor, 16) == 0 else {
            close(descriptor)
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        self.port = Int(UInt16(bigEndian: address.sin_port))
        self.listener = descriptor
        Thread { [self] in self.acceptLoop() }.start()
    }

    /// `http://127.0.0.1:<port><path>`.
    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Stops accepting connections.
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            Thread { [self] in self.serve(client) }.start()
        }
    }

    private func serve(_ client: Int32) {
        defer { close(client) }
        guard let request = readRequest(client) else { return }
        let (status, contentType, body) = respond(to: request)
        let reason = status == 200 ? "OK" : "Not Found"
        var response = Data("HTTP/1.1 \(status) \(reason)\r\nContent-Type: \(contentType)\r\n".utf8)
        response.append(Data("Content-Length: \(body.count)\r\nX-Test-Server: loopback\r\nConnection: close\r\n\r\n".utf8))
        response.append(body)
        response.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let sent = send(client, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if sent <= 0 { return }
                offset += sent
            }
        }
    }

    private struct Request {
        var method: String
        var target: String
        var headers: [String: String]
        var body: Data
    }

    private func readRequest(_ client: Int32) -> Request? {
        var received = Data()
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        let separator = Data("\r\n\r\n".utf8)
        var headerEnd: Range<Data.Index>?
        var expectedLength = 0
        while true {
            if headerEnd == nil, let range = received.range(of: separator) {
                headerEnd = range
                let head = String(decoding: received[..<range.lowerBound], as: UTF8.self)
                for line in head.split(separator: "\r\n").dropFirst() {
                    let parts = line.split(separator: ":", maxSplits: 1)
                    if parts.count == 2, parts[0].lowercased() == "content-length" {
                        expectedLength = Int(parts[1].trimmingCharacters(in: .whitespaces)) ?? 0
                    }
                }
            }
            if let headerEnd, received.count - headerEnd.upperBound >= expectedLength { break }
            let count = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return nil }
            received.append(contentsOf: buffer[..<count])
        }
        guard let headerEnd else { return nil }
        let lines = String(decoding: received[..<headerEnd.lowerBound], as: UTF8.self).split(separator: "\r\n")
        let requestLine = lines.first?.split(separator: " ") ?? []
        guard requestLine.count >= 2 else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2 {
                headers[parts[0].lowercased()] = parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return Request(
            method: String(requestLine[0]), target: String(requestLine[1]), headers: headers,
            body: Data(received[headerEnd.upperBound...]))
    }

    private func respond(to request: Request) -> (Int, String, Data) {
        let components = URLComponents(string: request.target)
        switch components?.path {
        case "/echo":
            var query: [String: JSONValue] = [:]
            for item in components?.queryItems ?? [] {
                let value = JSONValue.string(item.value ?? "")
                if case .array(let existing)? = query[item.name] {
                    query[item.name] = .array(existing + [value])
                } else if let existing = query[item.name] {
                    query[item.name] = [existing, value]
                } else {
                    query[item.name] = value
                }
            }
            let description: JSONValue = [
                "method": .string(request.method),
                "path": "/echo",
                "query": .object(query),
                "headers": .object(request.headers.mapValues { .string($0) }),
                "body": .string(String(decoding: request.body, as: UTF8.self)),
            ]
            return (200, "application/json", description.jsonData)
        case "/text":
            return (200, "text/plain", Data("hello".utf8))
        case "/slow":
            Thread.sleep(forTimeInterval: 30)
            return (200, "text/plain", Data("late".utf8))
        default:
            return (404, "application/json", Data(#"{"error":"not found"}"#.utf8))
        }
    }
}
