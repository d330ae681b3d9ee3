import BatonCore
import Foundation

// Depends on BatonCore and Foundation only: scripts/fuzz compiles this file into its fuzzer.

/// Where a listing resumes: base64url of `<tree id>\n<offset>`.
///
/// A cursor comes back from clients, so it is checked like any other input: at most
/// ``maxTextBytes`` of text, a tree id that passes ``Identifier``, an offset in
/// `0...maxOffset` (and, once the tree is read, no further than the tree's size). Anything else
/// is `invalid_argument` on `cursor`.
struct Cursor {
    /// The longest cursor text accepted.
    static let maxTextBytes = 1024
    /// The largest offset a cursor may carry: more tasks than any tree can hold.
    static let maxOffset = 100_000_000

    var treeID: String?
    var offset = 0

    init() {}

    init(treeID: String, offset: Int) {
        self.treeID = treeID
        self.offset = offset
    }

    init(_ text: String?) throws(BatonError) {
        guard let text, !text.isEmpty else { return }
        let invalid = BatonError.invalidArgument("cursor is not a cursor returned by a previous page", field: "cursor")
        guard text.utf8.count <= Self.maxTextBytes,
              text.utf8.allSatisfy({ Self.base64URLAlphabet.contains($0) })
        else { throw invalid }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64),
              let decoded = String(validating: data, as: UTF8.self),
              let newline = decoded.lastIndex(of: "\n"),
              let offset = Int(decoded[decoded.index(after: newline)...]),
              (0...Self.maxOffset).contains(offset),
              Identifier.isValid(String(decoded[..<newline]))
        else { throw invalid }
        treeID = String(decoded[..<newline])
        self.offset = offset
    }

    var text: String {
        Data("\(treeID ?? "")\n\(offset)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    private static let base64URLAlphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
}
