#if DEBUG
import Foundation
#endif

/// Test-only crash points inside the sequences that cross slots or processes (issue 9): with
/// `BATON_FAULT=<point>[,<point>…]` in its environment, a debug build of any Baton process kills
/// itself with SIGKILL when it reaches one of the named points, so tests can prove that a crash
/// there loses nothing. Release builds compile every point to nothing.
///
/// Points: `submit.after-reserve`, `submit.after-store`, `submit.after-dispatch` (a submission,
/// around `submitTree`), `apply.after-script` (a scheduler applied reports, their outputs not
/// dispatched), `agent.after-apply` (an agent applied its own reports, not dispatched them).
public enum FaultPoint {
    #if DEBUG
    /// The points named in `BATON_FAULT`, read once.
    static let armed: Set<Substring> = {
        guard let text = ProcessInfo.processInfo.environment["BATON_FAULT"] else { return [] }
        return Set(text.split(separator: ","))
    }()
    #endif

    /// Dies here (SIGKILL, like `kill -9`) when `name` is armed; does nothing otherwise.
    @inline(__always)
    public static func reach(_ name: StaticString) {
        #if DEBUG
        if !armed.isEmpty, armed.contains(Substring("\(name)")) {
            FileHandle.standardError.write(Data("baton: fault point \(name) reached; killing this process\n".utf8))
            kill(getpid(), SIGKILL)
        }
        #endif
    }
}
