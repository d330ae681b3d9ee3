import Foundation

extension BatonError {
    /// The marker word that opens every coded error a Baton Lua script returns.
    public static let scriptErrorMarker = "BATON"

    /// The error as a Lua script returns it: `BATON <code> <message>`.
    ///
    /// Scripts build the same text with `redis.error_reply("BATON not_found Task " .. id .. " not found")`.
    public var scriptErrorString: String {
        "\(Self.scriptErrorMarker) \(code.rawValue) \(message)"
    }

    /// Parses a coded error returned by a Lua script, or returns `nil` when `scriptError` is not one.
    ///
    /// The format is the word `BATON`, a space, a ``Code`` raw value, a space and the message:
    /// `BATON not_found Task X not found`. The marker may follow a prefix Redis adds when a
    /// script raises a string with `error()` (`ERR user_script:3: BATON …`). Redis's trailing
    /// `script: <sha>, on @user_script:3.`, added to whatever a script raises with `error()`
    /// (`error({err = 'BATON conflict …'})` included), is removed. The alternative form
    /// `ERR_NOT_FOUND <message>` is also understood. An unknown code becomes ``Code/internal``
    /// with the unknown word kept in the message. For `already_terminal`, a message ending in
    /// `is already <status>` also sets ``currentStatus``.
    public init?(scriptError: String) {
        guard let (word, rawMessage) = Self.splitScriptError(scriptError) else { return nil }
        let message = Self.droppingScriptLocation(rawMessage).trimmingCharacters(in: .whitespaces)
        if let code = Code(rawValue: word) {
            self.init(code: code, message: message)
            if code == .alreadyTerminal { currentStatus = Self.statusSuffix(of: message) }
        } else {
            self.init(code: .internal, message: message.isEmpty ? word : "\(word) \(message)")
        }
    }

    /// Finds the marker and returns the code word and the rest of the text.
    private static func splitScriptError(_ text: String) -> (String, String)? {
        if let marker = wordStart(of: "\(scriptErrorMarker) ", in: text) {
            let rest = text[marker.upperBound...]
            let word = rest.prefix { $0 != " " }
            guard !word.isEmpty else { return nil }
            let message = rest.dropFirst(word.count).drop { $0 == " " }
            return (String(word), String(message))
        }
        if let marker = wordStart(of: "ERR_", in: text) {
            let rest = text[marker.upperBound...]
            let word = rest.prefix { $0.isUppercase || $0 == "_" }
            guard !word.isEmpty else { return nil }
            let message = rest.dropFirst(word.count).drop { $0 == " " }
            return (word.lowercased(), String(message))
        }
        return nil
    }

    /// The message without the location Redis appends to an error raised by a script:
    /// ` script: <40 hex digits>, on @user_script:<line>.` (or `@user_function:`).
    private static func droppingScriptLocation(_ message: String) -> String {
        guard let tail = message.range(of: " script: ", options: .backwards) else { return message }
        let location = message[tail.upperBound...]
        let sha = location.prefix { $0.isHexDigit }
        guard sha.count == 40, location.dropFirst(40).hasPrefix(", on @user_"), location.hasSuffix(".") else {
            return message
        }
        return String(message[..<tail.lowerBound])
    }

    /// The first occurrence of `needle` that starts `text` or follows a space.
    private static func wordStart(of needle: String, in text: String) -> Range<String.Index>? {
        var searchStart = text.startIndex
        while let found = text.range(of: needle, range: searchStart..<text.endIndex) {
            if found.lowerBound == text.startIndex || text[text.index(before: found.lowerBound)] == " " {
                return found
            }
            searchStart = found.upperBound
        }
        return nil
    }

    /// The status named by a trailing `is already <status>`, when it is a terminal status.
    private static func statusSuffix(of message: String) -> String? {
        guard let range = message.range(of: "is already ", options: .backwards) else { return nil }
        let word = message[range.upperBound...].trimmingCharacters(in: CharacterSet(charactersIn: " ."))
        guard let status = TaskStatus(rawValue: word) else { return nil }
        return status.rawValue
    }
}
