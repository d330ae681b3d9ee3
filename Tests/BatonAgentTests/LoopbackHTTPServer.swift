import BatonCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A tiny HTTP/1.1 server on 127.0.0.1 and a free port, one thread per connection, for the
/// `rest_executor` tests. Routes:
/// - `/echo`: 200 with a JSON object describing the request (`method`, `path`, `query`, `headers`, `body`);
/// - `/text`: 200 `hello` as `text/plain`;
/// - `/slow`: 200 after thirty seconds (nothing is sent before);
/// - `/slow-body`: the head and one byte of a ten-byte body at once, the rest never;
/// - `/redirect?to=URL[&status=N]`: status N (default 302) with `Location: URL`; `/loop`: 302 to itself;
/// - `/bytes?n=N`: N bytes with `Content-Length`; `/stream?n=N`: N bytes without it (read to the close);
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
        let answer = respond(to: request)
        var head = "HTTP/1.1 \(answer.status) \(answer.status == 200 ? "OK" : "Status \(answer.status)")\r\n"
        head += "Content-Type: \(answer.contentType)\r\nX-Test-Server: loopback\r\nConnection: close\r\n"
        if let length = answer.declaredLength ?? (answer.framed ? answer.body.count : nil) {
            head += "Content-Length: \(length)\r\n"
        }
        for (name, value) in answer.headers { head += "\(name): \(value)\r\n" }
        var response = Data((head + "\r\n").utf8)
        response.append(answer.body)
        sendAll(client, response)
        if answer.stall { Thread.sleep(forTimeInterval: 30) }
    }

    private func sendAll(_ client: Int32, _ data: Data) {
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let sent = send(client, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if sent <= 0 { return }
                offset += sent
            }
        }
    }

    private struct Answer {
        var status = 200
        var contentType = "text/plain"
        var headers: [(String, String)] = []
        var body = Data()
        /// Whether `Content-Length` gives the body's size (else the body ends with the connection).
        var framed = true
        /// A `Content-Length` to announce instead of the body's size.
        var declaredLength: Int?
        /// Keep the connection open, silent, after sending.
        var stall = false
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

    private func respond(to request: Request) -> Answer {
        let components = URLComponents(string: request.target)
        let query = Dictionary((components?.queryItems ?? []).map { ($0.name, $0.value ?? "") }) { _, last in last }
        switch components?.path {
        case "/echo":
            var items: [String: JSONValue] = [:]
            for item in components?.queryItems ?? [] {
                let value = JSONValue.string(item.value ?? "")
                if case .array(let existing)? = items[item.name] {
                    items[item.name] = .array(existing + [value])
                } else if let existing = items[item.name] {
                    items[item.name] = [existing, value]
                } else {
                    items[item.name] = value
                }
            }
            let description: JSONValue = [
                "method": .string(request.method),
                "path": "/echo",
                "query": .object(items),
                "headers": .object(request.headers.mapValues { .string($0) }),
                "body": .string(String(decoding: request.body, as: UTF8.self)),
            ]
            return Answer(contentType: "application/json", body: description.jsonData)
        case "/text":
            return Answer(body: Data("hello".utf8))
        case "/slow":
            Thread.sleep(forTimeInterval: 30)
            return Answer(body: Data("late".utf8))
        case "/slow-body":
            return Answer(body: Data("x".utf8), declaredLength: 10, stall: true)
        case "/redirect":
            let status = query["status"].flatMap { Int($0) } ?? 302
            return Answer(status: status, headers: [("Location", query["to"] ?? "/")])
        case "/loop":
            return Answer(status: 302, headers: [("Location", "/loop")])
        case "/bytes", "/stream":
            let count = query["n"].flatMap { Int($0) } ?? 0
            return Answer(body: Data(repeating: UInt8(ascii: "x"), count: count), framed: components?.path == "/bytes")
        default:
            return Answer(status: 404, contentType: "application/json", body: Data(#"{"error":"not found"}"#.utf8))
        }
    }
}
