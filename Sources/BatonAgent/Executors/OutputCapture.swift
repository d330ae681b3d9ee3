import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Drains one output pipe of a child process on a thread of its own, keeping the first `limit`
/// bytes and discarding (but still reading) the rest, so a chatty program never blocks on a full
/// pipe. Both of a command's pipes get one, which is what keeps stdout and stderr from
/// deadlocking each other.
final class OutputCapture: Sendable {
    private struct State {
        var data = Data()
        var truncated = false
        var finished = false
    }

    private let handle: FileHandle
    private let limit: Int
    private let state = Mutex(State())
    private let stopRequested = Atomic<Bool>(false)

    /// - Parameters:
    ///   - handle: the parent's read end of the pipe; kept open until the capture finishes.
    ///   - limit: how many bytes to keep.
    init(reading handle: FileHandle, limit: Int) {
        self.handle = handle
        self.limit = limit
    }

    /// Starts the reading thread.
    func start() {
        let thread = Thread { [self] in self.drain() }
        thread.name = "baton.command-output"
        thread.start()
    }

    /// The bytes kept so far and whether more were discarded.
    var captured: (data: Data, truncated: Bool) {
        state.withLock { ($0.data, $0.truncated) }
    }

    /// Waits for end of file, or until `deadline` (a grandchild may hold the pipe open after the
    /// command exited), then stops reading.
    func finish(by deadline: ContinuousClock.Instant) async {
        while !state.withLock({ $0.finished }) {
            if ContinuousClock.now >= deadline { stopRequested.store(true, ordering: .releasing) }
            await ExecutorSupport.uncancellableSleep(seconds: 0.01)
        }
    }

    private func drain() {
        let descriptor = handle.fileDescriptor
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        reading: while !stopRequested.load(ordering: .acquiring) {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, 100)
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            if ready == 0 { continue }
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            switch count {
            case 0:
                break reading
            case ..<0:
                if errno == EINTR || errno == EAGAIN { continue }
                break reading
            default:
                append(buffer[..<count])
            }
        }
        state.withLock { $0.finished = true }
    }

    private func append(_ bytes: ArraySlice<UInt8>) {
        state.withLock { state in
            let room = limit - state.data.count
            if bytes.count <= room {
                state.data.append(contentsOf: bytes)
            } else {
                if room > 0 { state.data.append(contentsOf: bytes.prefix(room)) }
                state.truncated = true
            }
        }
    }
}

/// Writes a command's stdin on a thread of its own, then closes the pipe. `SIGPIPE` is blocked on
/// that thread so a program that exits without reading its input only makes the write fail.
enum StdinFeeder {
    static func start(_ data: Data, to handle: FileHandle) {
        let thread = Thread {
            var blocked = sigset_t()
            sigemptyset(&blocked)
            sigaddset(&blocked, SIGPIPE)
            pthread_sigmask(SIG_BLOCK, &blocked, nil)

            let descriptor = handle.fileDescriptor
            data.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let written = write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        break
                    }
                    offset += written
                }
            }
            try? handle.close()
        }
        thread.name = "baton.command-stdin"
        thread.start()
    }
}
