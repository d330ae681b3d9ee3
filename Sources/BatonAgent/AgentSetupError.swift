/// A configuration value the agent cannot start with; the message names the key
/// (`agent.command_allowlist: 'nmap' was not found on the agent's PATH`).
public struct AgentSetupError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The configuration key at fault, e.g. `agent.rest_allow`.
    public var key: String
    /// What is wrong with it.
    public var reason: String

    public init(key: String, _ reason: String) {
        self.key = key
        self.reason = reason
    }

    /// `<key>: <reason>`.
    public var description: String { "\(key): \(reason)" }
}
