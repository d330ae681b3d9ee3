import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `command_executor` may run, and how: settled once, when the agent starts.
///
/// - **Programs.** Each `agent.command_allowlist` entry is an absolute path or a bare name looked
///   up on the agent's `PATH` (absolute directories only) at start. An entry that does not name
///   an executable file is a start-up error naming it (the agent does not start with an
///   allowlist that differs from its configuration). At run time `inputs.command` must be one of
///   the resolved absolute paths exactly, or a bare name whose resolution is in the list;
///   relative paths (`./x`, `../../bin/echo`) and other paths with an allowed base name
///   (`/any/path/echo`) are refused. The program runs under the path it resolved to, so
///   multi-call binaries still see their name.
/// - **Environment.** Built from scratch: `PATH` (the agent's at start, absolute directories
///   only), `LANG` and `LC_ALL` when the agent has them, and the `inputs.env` variables whose names
///   `agent.command_env_allow` lists. Variables that change how programs are found or loaded
///   (``isLoaderVariable(_:)``: `PATH`, `LD_*`, `DYLD_*`, `GCONV_PATH`, `BASH_ENV`, …) are refused
///   even when listed, as is anything not listed.
/// - **Working directory.** `agent.command_cwd` (default `/`), resolved (symlinks included) at
///   start; `inputs.cwd` is refused.
public struct CommandPolicy: Sendable, Hashable {
    /// Absolute paths of the programs that may run.
    public let programs: Set<String>
    /// Bare names and the program each stands for.
    public let names: [String: String]
    /// `inputs.env` names passed on to programs.
    public let environmentAllow: Set<String>
    /// Where every program runs (canonical path).
    public let workingDirectory: String
    /// The environment every program starts with, before the allowed inputs.
    public let baseEnvironment: [String: String]

    /// The directories searched when `PATH` is not set.
    static let fallbackPath = "/usr/local/bin:/usr/bin:/bin"

    /// Resolves the configuration.
    /// - Parameters:
    ///   - allowlist: `agent.command_allowlist`: bare names or normalised absolute paths.
    ///   - environmentAllow: `agent.command_env_allow`: variable names.
    ///   - workingDirectory: `agent.command_cwd`: an absolute path to an existing directory.
    ///   - environment: the agent's environment (its `PATH`, `LANG`, `LC_ALL` are used).
    /// - Throws: ``AgentSetupError`` naming the key and the entry at fault.
    public init(
        allowlist: [String], environmentAllow: [String] = [], workingDirectory: String = "/",
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(AgentSetupError) {
        let searchPath = (environment["PATH"] ?? Self.fallbackPath)
            .split(separator: ":").filter { $0.hasPrefix("/") }.joined(separator: ":")
        var programs: Set<String> = []
        var names: [String: String] = [:]
        for entry in allowlist {
            if entry.contains("/") {
                guard Self.isNormalizedAbsolutePath(entry) else {
                    throw AgentSetupError(
                        key: "agent.command_allowlist",
                        "'\(entry)' must be a program name or an absolute path without '.', '..' or '//' components")
                }
                guard Self.isExecutableFile(entry) else {
                    throw AgentSetupError(key: "agent.command_allowlist", "'\(entry)' is not an executable file")
                }
                programs.insert(entry)
            } else {
                guard !entry.isEmpty, !entry.contains("\0"), entry != ".", entry != ".." else {
                    throw AgentSetupError(key: "agent.command_allowlist", "'\(entry)' is not a program name")
                }
                guard let path = Self.search(entry, in: searchPath) else {
                    throw AgentSetupError(
                        key: "agent.command_allowlist", "'\(entry)' was not found on the agent's PATH (\(searchPath))")
                }
                programs.insert(path)
                names[entry] = path
            }
        }
        // A bare name also stands for a listed absolute path when PATH resolves it there.
        for program in programs {
            let name = (program as NSString).lastPathComponent
            if names[name] == nil, Self.search(name, in: searchPath) == program { names[name] = program }
        }

        for name in environmentAllow {
            guard Self.isVariableName(name) else {
                throw AgentSetupError(key: "agent.command_env_allow", "'\(name)' is not a variable name")
            }
            guard !Self.isLoaderVariable(name) else {
                throw AgentSetupError(
                    key: "agent.command_env_allow",
                    "'\(name)' changes how programs are found or loaded and is never taken from inputs")
            }
        }

        guard workingDirectory.hasPrefix("/") else {
            throw AgentSetupError(key: "agent.command_cwd", "'\(workingDirectory)' must be an absolute path")
        }
        let directory = URL(fileURLWithPath: workingDirectory).resolvingSymlinksInPath().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw AgentSetupError(key: "agent.command_cwd", "'\(workingDirectory)' is not a directory")
        }

        var base = ["PATH": searchPath.isEmpty ? Self.fallbackPath : searchPath]
        for name in ["LANG", "LC_ALL"] {
            if let value = environment[name] { base[name] = value }
        }
        self.programs = programs
        self.names = names
        self.environmentAllow = Set(environmentAllow)
        self.workingDirectory = directory
        self.baseEnvironment = base
    }

    /// The program `inputs.command` names, if the policy allows it.
    func program(for command: String) throws(ExecutorFailure) -> String {
        let refused = ExecutorFailure("command '\(command)' is not in the agent's allowlist")
        if command.contains("/") {
            guard command.hasPrefix("/"), programs.contains(command) else { throw refused }
            return command
        }
        guard let path = names[command] else { throw refused }
        return path
    }

    /// The environment of a program: the base and the allowed `inputs.env` variables.
    func environment(adding variables: [String: String]) throws(ExecutorFailure) -> [String: String] {
        var environment = baseEnvironment
        for (name, value) in variables.sorted(by: { $0.key < $1.key }) {
            guard Self.isVariableName(name) else {
                throw ExecutorFailure("inputs.env: '\(name)' is not a variable name")
            }
            guard !Self.isLoaderVariable(name) else {
                throw ExecutorFailure("inputs.env.\(name) is never passed to a command: it changes how programs are found or loaded")
            }
            guard environmentAllow.contains(name) else {
                throw ExecutorFailure("inputs.env.\(name) is not allowed: agent.command_env_allow does not list it")
            }
            guard !value.contains("\0") else { throw ExecutorFailure("inputs.env.\(name) must not contain NUL") }
            if name == "LANG" || name.hasPrefix("LC_"), value.contains("/") {
                throw ExecutorFailure("inputs.env.\(name) must name a locale, not a path")
            }
            environment[name] = value
        }
        return environment
    }

    // MARK: Rules

    /// Variables never taken from inputs: they decide which program or library runs, or make a
    /// shell or interpreter run code of the caller's choosing.
    public static func isLoaderVariable(_ name: String) -> Bool {
        let upper = name.uppercased()
        return loaderVariables.contains(upper) || loaderPrefixes.contains { upper.hasPrefix($0) }
    }

    static let loaderVariables: Set<String> = [
        "PATH", "IFS", "ENV", "BASH_ENV", "CDPATH", "SHELLOPTS", "BASHOPTS", "PS4", "GLOBIGNORE", "PROMPT_COMMAND",
        "GCONV_PATH", "GETCONF_DIR", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH", "NLSPATH", "NIS_PATH",
        "RESOLV_HOST_CONF", "RES_OPTIONS", "TZDIR", "GLIBC_TUNABLES", "LANGUAGE",
        "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PERL5LIB", "PERL5OPT", "PERLLIB", "RUBYLIB", "RUBYOPT",
        "NODE_OPTIONS", "NODE_PATH", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS",
    ]
    static let loaderPrefixes = ["LD_", "DYLD_", "MALLOC_", "BASH_FUNC_"]

    /// `[A-Za-z_][A-Za-z0-9_]*`.
    static func isVariableName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else {
            return false
        }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }

    /// `/a/b`, not `a/b`, `/a/../b`, `/a/./b`, `/a//b` or `/a/`.
    static func isNormalizedAbsolutePath(_ path: String) -> Bool {
        guard path.hasPrefix("/"), path.count > 1, !path.hasSuffix("/"), !path.contains("\0") else { return false }
        return !path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
            .contains { $0.isEmpty || $0 == "." || $0 == ".." }
    }

    /// A regular file (after symlinks) with an execute bit that this process may execute.
    /// (`FileManager.isExecutableFile` answers true for any file when running as root.)
    static func isExecutableFile(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_mode & 0o111 != 0 else { return false }
        return access(path, X_OK) == 0
    }

    /// The first executable `directory/name` along `path`.
    static func search(_ name: String, in path: String) -> String? {
        for directory in path.split(separator: ":") where directory.hasPrefix("/") {
            let candidate = directory.hasSuffix("/") ? "\(directory)\(name)" : "\(directory)/\(name)"
            if isExecutableFile(candidate) { return candidate }
        }
        return nil
    }
}
