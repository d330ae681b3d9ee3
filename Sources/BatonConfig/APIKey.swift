import Foundation

/// One gateway API key and the identity it stands for, written `key=user` or `key=user:admin`
/// in the configuration.
public struct APIKey: Sendable, Codable, Equatable {
    /// The secret a client sends.
    public var key: String
    /// The user every call made with this key acts as.
    public var userID: String
    /// Whether the user has the admin role (sees and changes every user's tasks).
    public var isAdmin: Bool

    /// Creates an API key entry.
    public init(key: String, userID: String, isAdmin: Bool = false) {
        self.key = key
        self.userID = userID
        self.isAdmin = isAdmin
    }

    /// Parses `key=user` or `key=user:admin` (surrounding spaces ignored); nil if malformed.
    public init?(parsing text: String) {
        let text = text.trimmingCharacters(in: .whitespaces)
        guard let equals = text.firstIndex(of: "=") else { return nil }
        let key = String(text[..<equals])
        var user = String(text[text.index(after: equals)...])
        var isAdmin = false
        if user.hasSuffix(":admin") {
            user.removeLast(":admin".count)
            isAdmin = true
        }
        guard !key.isEmpty, !user.isEmpty, !user.contains(":"), !user.contains("=") else { return nil }
        self.init(key: key, userID: user, isAdmin: isAdmin)
    }

    /// The configuration form, `key=user` or `key=user:admin`.
    public var configValue: String { "\(key)=\(userID)\(isAdmin ? ":admin" : "")" }

    /// Decodes the `key=user[:admin]` string form.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let parsed = APIKey(parsing: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "an API key must be \"key=user\" or \"key=user:admin\"")
        }
        self = parsed
    }

    /// Encodes the `key=user[:admin]` string form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(configValue)
    }
}
