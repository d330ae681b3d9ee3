/// The one rule for every name that becomes part of a Redis key or channel: task and tree ids,
/// executor types and user ids (SPEC "Keys are injective", `docs/PROTOCOL.md` "Identifiers").
///
/// An identifier is 1…255 bytes of UTF-8 without control characters (U+0000–U+001F,
/// U+007F–U+009F) and without `{` or `}`. Braces are refused rather than encoded: a key's hash
/// tag is the text between its first `{` and the next `}`, so with no brace inside an id the tag
/// of `<ns>:{t:<tree>}:…` is exactly `t:<tree>`, every key of a tree lands on that tree's slot,
/// and no two different ids can spell the same key. Control characters are refused because queue
/// members and stream fields join ids with tabs and newlines.
public enum Identifier {
    /// The longest identifier, in UTF-8 bytes.
    public static let maxBytes = 255

    /// Why `text` is not a valid identifier (e.g. `must not contain '{' or '}'`), or `nil` when it is.
    public static func problem(_ text: String) -> String? {
        if text.isEmpty { return "must not be empty" }
        if text.utf8.count > maxBytes { return "must be at most \(maxBytes) bytes" }
        for scalar in text.unicodeScalars {
            if isControl(scalar) { return "must not contain control characters" }
            if scalar == "{" || scalar == "}" { return "must not contain '{' or '}'" }
        }
        return nil
    }

    /// Whether `text` is a valid identifier.
    public static func isValid(_ text: String) -> Bool { problem(text) == nil }

    /// Checks `text`, throwing `invalid_argument` that names `field` (`tree_id must not contain '{' or '}'`).
    public static func check(_ text: String, field: String) throws(BatonError) {
        if let problem = problem(text) {
            throw BatonError.invalidArgument("\(field) \(problem)", field: field)
        }
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }
}
