import BatonCore
import BatonStore
import Foundation

/// One entry of a tree's event stream, encoded once and shared by every client that gets it.
///
/// The JSON form carries every field of the entry (PROTOCOL "Event stream") with typed values —
/// `timestamp`, `attempt`, `retry_at` as integers, `progress` as a number, `result` as JSON,
/// `will_retry` as a boolean — plus `id`, the stream entry id (the SSE event id).
struct TreeEvent: Sendable {
    let id: StreamID
    let type: String
    /// The event as a JSON object.
    let json: String
    /// The Server-Sent Events frame: `id: …\ndata: …\n\n`.
    let sseFrame: String
    /// Epoch milliseconds of the transition.
    let timestamp: Int64?

    var isTreeFinished: Bool { type == "tree_finished" }

    init(id: StreamID, fields: [String: String]) {
        self.id = id
        type = fields["type"] ?? ""
        timestamp = fields["timestamp"].flatMap { Int64($0) }
        var object: [String: JSONValue] = ["id": .string(id.description)]
        for (key, text) in fields {
            object[key] = Self.value(of: key, text)
        }
        json = JSONValue.object(object).jsonString()
        sseFrame = "id: \(id)\ndata: \(json)\n\n"
    }

    /// The events of stream entries (an entry whose id does not parse is left out).
    static func parse(entries: [StreamEntry]) -> [TreeEvent] {
        entries.compactMap { entry in
            guard let id = StreamID(entry.id) else { return nil }
            return TreeEvent(id: id, fields: entry.fields)
        }
    }

    private static func value(of key: String, _ text: String) -> JSONValue {
        switch key {
        case "timestamp", "attempt", "retry_at":
            return Int(text).map(JSONValue.int) ?? .string(text)
        case "progress":
            return Double(text).map(JSONValue.double) ?? .string(text)
        case "will_retry":
            return .bool(text == "1" || text == "true")
        case "result":
            return (try? JSONValue(parsing: text)) ?? .string(text)
        default:
            return .string(text)
        }
    }
}

