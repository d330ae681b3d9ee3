import NIOCore

/// The connection a request or WebSocket arrived on, for streaming handlers: one whose client
/// stopped reading must be dropped, and cannot be reached any other way; and writes must be
/// paced (see ``settle()``).
struct StreamConnection: Sendable {
    let channel: any Channel

    /// Bytes a stream writes between two calls of ``settle()`` (NIO's default high watermark).
    static let paceBytes = 65_536

    /// Closes the connection; pending writes fail.
    func close() {
        channel.close(promise: nil)
    }

    /// Returns once the connection's event loop has carried out everything handed to it so far.
    ///
    /// An async writer hands each write over to the event loop and returns at once while the
    /// channel still counts as writable; the channel becomes unwritable only once the event loop
    /// has run those writes. A fast producer could queue thousands of writes for a client that
    /// reads nothing before that (measured: every event of a flood, about 1 KB per event per
    /// WebSocket client). Waiting here every ``paceBytes`` bounds that queue.
    func settle() async throws {
        try await channel.eventLoop.submit {}.get()
    }

    /// Set while a connection of ``GuardedHTTPChannel`` is handled.
    @TaskLocal static var current: StreamConnection?
}

/// Settles a stream's connection (``StreamConnection/settle()``) every
/// ``StreamConnection/paceBytes`` written.
struct WritePacer {
    let connection: StreamConnection?
    private var unsettled = 0

    init(_ connection: StreamConnection?) {
        self.connection = connection
    }

    /// Counts `bytes` just written; waits for the event loop once enough went out unsettled.
    mutating func wrote(_ bytes: Int) async throws {
        unsettled += bytes
        guard unsettled >= StreamConnection.paceBytes, let connection else { return }
        unsettled = 0
        try await connection.settle()
    }
}
