/// A Redis stream entry id, `<ms>-<seq>`: the event id clients resume from.
struct StreamID: Sendable, Hashable, Comparable, CustomStringConvertible {
    var millis: UInt64
    var sequence: UInt64

    /// Before every entry.
    static let zero = StreamID(millis: 0, sequence: 0)

    init(millis: UInt64, sequence: UInt64) {
        self.millis = millis
        self.sequence = sequence
    }

    /// Parses `<ms>-<seq>` or `<ms>` (sequence 0); `nil` for anything else.
    init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2,
              parts.allSatisfy({ !$0.isEmpty && $0.count <= 20 && $0.utf8.allSatisfy { (0x30...0x39).contains($0) } }),
              let millis = UInt64(parts[0])
        else { return nil }
        let sequence = parts.count == 2 ? UInt64(parts[1]) : 0
        guard let sequence else { return nil }
        self.init(millis: millis, sequence: sequence)
    }

    var description: String { "\(millis)-\(sequence)" }

    static func < (lhs: StreamID, rhs: StreamID) -> Bool {
        (lhs.millis, lhs.sequence) < (rhs.millis, rhs.sequence)
    }
}
