import BatonCore
import Foundation

/// Decoding of what a raw client of the event streams received: an SSE answer (chunked) or a
/// WebSocket upgrade followed by server frames. Both tolerate a truncated end (a connection the
/// gateway closed in the middle of a write): only complete events and messages are returned.
enum RawStreams {
    /// `GET path` asking for Server-Sent Events.
    static func sseRequest(_ path: String, key: String) -> String {
        "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nAuthorization: Bearer \(key)\r\n\r\n"
    }

    /// A WebSocket upgrade of `path`.
    static func webSocketRequest(_ path: String, key: String) -> String {
        "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            + "Authorization: Bearer \(key)\r\n\r\n"
    }

    /// The status of the answer's head and the bytes after it.
    static func splitHead(_ bytes: [UInt8]) -> (status: Int, rest: [UInt8])? {
        guard let end = RawConnection.find(Array("\r\n\r\n".utf8), in: bytes) else { return nil }
        let statusLine = String(decoding: bytes[..<end], as: UTF8.self).prefix { $0 != "\r" }
        let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0
        return (status, Array(bytes[(end + 4)...]))
    }

    /// The body of a chunked answer (what arrived of it) and whether its last chunk arrived.
    static func dechunk(_ bytes: [UInt8]) -> (body: [UInt8], complete: Bool) {
        var body: [UInt8] = []
        var index = 0
        while let lineEnd = RawConnection.find([0x0D, 0x0A], in: bytes, from: index) {
            let sizeText = String(decoding: bytes[index..<lineEnd], as: UTF8.self)
            guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16) else { break }
            if size == 0 { return (body, true) }
            let start = lineEnd + 2
            guard start + size <= bytes.count else {
                body += bytes[start...]
                break
            }
            body += bytes[start..<(start + size)]
            index = start + size + 2
            if index > bytes.count { break }
        }
        return (body, false)
    }

    /// The complete events of an SSE body (comments left out).
    static func sseFrames(_ body: [UInt8]) -> [SSEFrame] {
        let text = String(decoding: body, as: UTF8.self)
        var frames: [SSEFrame] = []
        // Only blocks followed by an empty line are complete.
        let blocks = text.components(separatedBy: "\n\n").dropLast()
        for block in blocks {
            var frame = SSEFrame(id: nil, event: "message", data: "")
            var hasData = false
            for line in block.split(separator: "\n", omittingEmptySubsequences: true) where !line.hasPrefix(":") {
                let parts = line.split(separator: ":", maxSplits: 1)
                let field = String(parts[0])
                var value = parts.count > 1 ? String(parts[1]) : ""
                if value.hasPrefix(" ") { value.removeFirst() }
                switch field {
                case "id": frame.id = value
                case "event": frame.event = value
                case "data":
                    frame.data += hasData ? "\n" + value : value
                    hasData = true
                default: break
                }
            }
            if hasData { frames.append(frame) }
        }
        return frames
    }

    /// The complete text messages of a server's WebSocket frames, and the close code if a close
    /// frame arrived.
    static func webSocketMessages(_ bytes: [UInt8]) -> (messages: [String], closeCode: Int?) {
        var messages: [String] = []
        var message: [UInt8] = []
        var index = 0
        while index + 2 <= bytes.count {
            let fin = bytes[index] & 0x80 != 0
            let opcode = bytes[index] & 0x0F
            var length = Int(bytes[index + 1] & 0x7F)
            var start = index + 2
            if length == 126 {
                guard start + 2 <= bytes.count else { break }
                length = Int(bytes[start]) << 8 | Int(bytes[start + 1])
                start += 2
            } else if length == 127 {
                guard start + 8 <= bytes.count else { break }
                length = bytes[start..<(start + 8)].reduce(0) { $0 << 8 | Int($1) }
                start += 8
            }
            guard start + length <= bytes.count else { break }
            let payload = Array(bytes[start..<(start + length)])
            index = start + length
            switch opcode {
            case 0x8:
                let code = payload.count >= 2 ? Int(payload[0]) << 8 | Int(payload[1]) : nil
                return (messages, code)
            case 0x1, 0x0:
                message += payload
                if fin {
                    messages.append(String(decoding: message, as: UTF8.self))
                    message = []
                }
            default:
                break
            }
        }
        return (messages, nil)
    }
}
