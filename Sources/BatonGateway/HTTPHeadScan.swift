import NIOCore

/// Measures a request head on the raw bytes, before the HTTP decoder sees them: the request line
/// up to its line feed, then the header section up to the empty line that ends it.
///
/// Lines may end with CRLF or a bare LF (as the decoder accepts); empty lines before the request
/// line count towards it (the decoder skips them, but they cost the same).
///
/// ```swift
/// var scan = HTTPHeadScan(maxRequestLineBytes: 8192, maxHeaderBytes: 16384)
/// switch scan.consume(buffer) { case .complete: …; case .requestLineTooLong: … }
/// ```
struct HTTPHeadScan {
    /// What the bytes so far amount to.
    enum Outcome: Equatable {
        /// The head goes on.
        case incomplete
        /// The empty line that ends the head was seen.
        case complete
        /// The request line is longer than the limit (414).
        case requestLineTooLong
        /// The header section is larger than the limit (431).
        case headersTooLarge
    }

    let maxRequestLineBytes: Int
    let maxHeaderBytes: Int
    private var inRequestLine = true
    /// Bytes of the request line other than CR / LF seen so far.
    private var requestLineContent = 0
    private var requestLineBytes = 0
    private var headerBytes = 0
    /// Bytes of the current header line other than CR.
    private var lineLength = 0

    init(maxRequestLineBytes: Int, maxHeaderBytes: Int) {
        self.maxRequestLineBytes = maxRequestLineBytes
        self.maxHeaderBytes = maxHeaderBytes
    }

    /// Consumes the next bytes of the connection. After `.complete` the rest of `buffer` is body
    /// or the next request, and the scan is over.
    mutating func consume(_ buffer: ByteBuffer) -> Outcome {
        buffer.withUnsafeReadableBytes { bytes in
            for byte in bytes {
                let outcome = consume(byte)
                if outcome != .incomplete { return outcome }
            }
            return .incomplete
        }
    }

    private mutating func consume(_ byte: UInt8) -> Outcome {
        if inRequestLine {
            requestLineBytes += 1
            if byte == UInt8(ascii: "\n"), requestLineContent > 0 {
                inRequestLine = false
                return .incomplete
            }
            if byte != UInt8(ascii: "\r") && byte != UInt8(ascii: "\n") { requestLineContent += 1 }
            return requestLineBytes > maxRequestLineBytes ? .requestLineTooLong : .incomplete
        }
        headerBytes += 1
        if headerBytes > maxHeaderBytes { return .headersTooLarge }
        switch byte {
        case UInt8(ascii: "\n"):
            if lineLength == 0 { return .complete }
            lineLength = 0
        case UInt8(ascii: "\r"):
            break
        default:
            lineLength += 1
        }
        return .incomplete
    }
}
