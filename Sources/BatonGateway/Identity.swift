/// Who a request acts as: the user of its API key.
public struct Identity: Sendable, Hashable {
    /// The user every call acts as (owner of what it creates).
    public var userID: String
    /// Admins see and change every user's tasks.
    public var isAdmin: Bool

    public init(userID: String, isAdmin: Bool) {
        self.userID = userID
        self.isAdmin = isAdmin
    }

    /// The `userID` argument of store reads and changes: `nil` (everything) for an admin.
    public var scope: String? { isAdmin ? nil : userID }
}
