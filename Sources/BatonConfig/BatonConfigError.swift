import Foundation

/// Why a configuration could not be loaded. The description names the file, key or
/// environment variable at fault, ready to print.
public enum BatonConfigError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// A configuration file named explicitly (argument or `BATON_CONFIG`) does not exist.
    case fileNotFound(path: String)
    /// The file exists but could not be read.
    case unreadableFile(path: String, reason: String)
    /// The file is not valid YAML, has an unknown key or a value of the wrong type.
    case invalidFile(path: String, reason: String)
    /// A value is out of range or malformed; `key` is the environment variable (`BATON_GATEWAY_PORT`)
    /// or the configuration key path (`gateway.port`).
    case invalidValue(key: String, reason: String)

    /// A one-line message, e.g. `BATON_AGENT_CONCURRENCY must be an integer (got "many")`.
    public var description: String {
        switch self {
        case .fileNotFound(let path): "configuration file \(path) not found"
        case .unreadableFile(let path, let reason): "cannot read configuration file \(path): \(reason)"
        case .invalidFile(let path, let reason): "invalid configuration file \(path): \(reason)"
        case .invalidValue(let key, let reason): "\(key) \(reason)"
        }
    }

    /// Same as ``description``.
    public var errorDescription: String? { description }
}
