import BatonCore
import BatonStore
import Foundation
import Synchronization

/// One streaming client of a tree (SSE or WebSocket): replays the tree's events after the
/// client's resume id, then follows the live feed of the tree's shared reader, delivering every
/// event exactly once, in stream order.
///
/// It ends after `tree_finished` unless ``Request/follow``, when the client goes away
/// (``stop()``), when the gateway shuts down, or with an error message: the resume id was trimmed
/// from the stream (`not_found`), the client fell behind by more than the gateway's
/// `stream_buffer_bytes` (`conflict`, naming the id to resume from), or Redis is unreachable
/// (`unavailable`). A client stuck behind a full send buffer cannot even take that message: the
/// hub then closes its connection (``TreeEventHub/Settings/overflowGrace``).
final class EventSession: Sendable {
    /// What the client asked for.
    struct Request: Sendable {
        var treeID: String
        /// Deliver events after this id (``StreamID/zero``: from the beginning).
        var after: StreamID
        /// Keep streaming after `tree_finished`.
        var follow: Bool
    }

    /// How events are written on the wire.
    enum Format: Sendable {
        /// `id: …\ndata: {json}\n\n` frames, comments as keep-alives, `event: error` at the end.
        case serverSentEvents
        /// One JSON text message per event; `{"error": …}` at the end.
        case webSocket
    }

    private struct State {
        var stopped = false
        var attachment: TreeEventHub.Attachment?
    }

    let request: Request
    private let format: Format
    private let hub: TreeEventHub
    private let store: BatonStore
    private let keepAlive: Duration
    private let disconnect: @Sendable () -> Void
    private let state = Mutex(State())

    /// Largest SSE chunk written at once: a batch of events goes out in pieces of about this size.
    static let chunkBytes = 65_536

    /// - Parameter disconnect: closes the client's connection (see ``StreamConnection``).
    init(
        _ request: Request, format: Format, hub: TreeEventHub, store: BatonStore, keepAlive: Duration,
        disconnect: @escaping @Sendable () -> Void
    ) {
        self.request = request
        self.format = format
        self.hub = hub
        self.store = store
        self.keepAlive = keepAlive
        self.disconnect = disconnect
    }

    /// Ends the session (the client went away, or the gateway stops).
    func stop() {
        let attachment = state.withLock { state -> TreeEventHub.Attachment? in
            state.stopped = true
            return state.attachment
        }
        if let attachment { hub.detach(attachment) }
    }

    private var isStopped: Bool { state.withLock { $0.stopped } }

    /// Streams until the end; `write` sends one message (SSE: a chunk of frames; WebSocket: one text message).
    /// Call ``stop()`` once the connection's last write is done.
    ///
    /// - Returns: the error the stream ended with (already written as the last message), or `nil`.
    @discardableResult
    func run(write: (String) async throws -> Void) async throws -> BatonError? {
        if format == .serverSentEvents {
            try await write(": baton events of tree \(request.treeID)\nretry: 2000\n\n")
        }
        let attachment: TreeEventHub.Attachment
        do {
            attachment = try await hub.attach(request.treeID, disconnect: disconnect)
        } catch {
            return try await end(with: Self.unavailable(error), write)
        }
        let stoppedEarly = state.withLock { state -> Bool in
            state.attachment = attachment
            return state.stopped
        }
        // A session cut off for falling behind stays attached until ``stop()``: the route's last
        // writes (the error, a close frame, the end of the body) may be stuck behind the same full
        // send buffer, and the hub closes the connection of a cut-off client still attached after
        // its grace period.
        defer { if !attachment.feed.overflowed { hub.detach(attachment) } }
        if stoppedEarly { return nil }

        var cursor = Cursor(last: request.after, follow: request.follow)
        do {
            if try await hub.log.isTrimmed(request.treeID, after: request.after) {
                return try await end(with: BatonError(
                    code: .notFound,
                    message: "Event \(request.after) was trimmed from the stream of tree \(request.treeID); "
                        + "reconnect without Last-Event-ID to get the events still kept",
                    field: "after"), write)
            }
            // Catch up from the client's id to the position where the live feed starts.
            while cursor.last < attachment.position, !isStopped, !attachment.feed.overflowed {
                let events = try await hub.log.range(request.treeID, after: cursor.last, through: attachment.position)
                if events.isEmpty { break }
                if try await deliver(events, &cursor, write) { return nil }
            }
            if !request.follow, !attachment.feed.overflowed,
               try await store.treeRecord(request.treeID, userID: nil).isFinished {
                // Finished already: whatever is left in the stream, then the end.
                while !isStopped {
                    let events = try await hub.log.read(request.treeID, after: cursor.last)
                    if events.isEmpty { return nil }
                    if try await deliver(events, &cursor, write) { return nil }
                }
                return nil
            }
        } catch let error as BatonError {
            return try await end(with: error, write)
        } catch {
            return try await end(with: Self.unavailable(error), write)
        }

        var lastWrite = ContinuousClock.now
        while let signal = await attachment.feed.next() {
            switch signal {
            case .events(let events):
                if try await deliver(events, &cursor, write) { return nil }
                lastWrite = .now
            case .tick:
                if format == .serverSentEvents, ContinuousClock.now - lastWrite >= keepAlive {
                    try await write(": keep-alive\n\n")
                    lastWrite = .now
                }
            }
        }
        if attachment.feed.overflowed {
            let resume = cursor.last == .zero ? "reconnect" : "reconnect with Last-Event-ID \(cursor.last) (or ?after=\(cursor.last))"
            return try await end(with: BatonError(
                code: .conflict,
                message: "The client fell behind: more than \(attachment.feed.limit) bytes of events were waiting for it; "
                    + "\(resume) to resume"), write)
        }
        return nil
    }

    /// Writes `error` as the stream's last message and returns it.
    private func end(with error: BatonError, _ write: (String) async throws -> Void) async throws -> BatonError {
        try await write(errorMessage(error))
        return error
    }

    /// Where the client is.
    private struct Cursor {
        var last: StreamID
        let follow: Bool
    }

    /// Writes the events after the cursor; true when the stream should end (`tree_finished`).
    private func deliver(_ events: [TreeEvent], _ cursor: inout Cursor, _ write: (String) async throws -> Void) async throws -> Bool {
        let fresh = events.filter { $0.id > cursor.last }
        guard !fresh.isEmpty else { return false }
        var end = false
        var toSend = fresh
        if !cursor.follow, let finished = fresh.firstIndex(where: \.isTreeFinished) {
            toSend = Array(fresh[...finished])
            end = true
        }
        switch format {
        case .serverSentEvents:
            // In pieces of about chunkBytes: a client stuck on a write holds one piece, not a batch.
            var chunk = ""
            for event in toSend {
                chunk += event.sseFrame
                if chunk.utf8.count >= Self.chunkBytes {
                    try await write(chunk)
                    chunk = ""
                }
            }
            if !chunk.isEmpty { try await write(chunk) }
        case .webSocket:
            for event in toSend { try await write(event.json) }
        }
        cursor.last = toSend.last!.id
        return end
    }

    private func errorMessage(_ error: BatonError) -> String {
        let json = JSONValue.object(["error": error.jsonValue]).jsonString()
        switch format {
        case .serverSentEvents: return "event: error\ndata: \(json)\n\n"
        case .webSocket: return json
        }
    }

    private static func unavailable(_ error: any Error) -> BatonError {
        if let error = error as? BatonError { return error }
        return BatonError.unavailable("The tree's event stream cannot be read; retry later")
    }
}
