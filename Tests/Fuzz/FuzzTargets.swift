// libFuzzer entry point for the parsers every outside value goes through (issue 8, item 7).
// Not a SwiftPM target: scripts/fuzz compiles it with BatonCore and the store's Cursor, with
// `-sanitize=fuzzer,address`, and runs each target for a bounded time.
//
// BATON_FUZZ_TARGET picks what one input is fed to:
//   json        JSONValue(parsing:) — and a value that parses survives serialise → parse unchanged
//   submission  SubmissionRules.parse(bytes:) + TreeValidator.validate — refusals are BatonErrors
//               that are never `internal`, and every accepted id is a valid Identifier
//   cursor      Cursor(text) — a cursor that decodes has an offset in range and a valid tree id,
//               and its own text decodes to the same position
// A violated property is a crash (fatalError), which libFuzzer reports with the input.
import BatonCore
import Foundation

enum FuzzTarget: String {
    case json, submission, cursor

    static let selected: FuzzTarget = {
        let name = ProcessInfo.processInfo.environment["BATON_FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            fatalError("set BATON_FUZZ_TARGET to json, submission or cursor (got '\(name)')")
        }
        return target
    }()
}

let rules = SubmissionRules(validator: TreeValidator(maxTasks: 10_000), maxBodyBytes: 1 << 20)
let fixedNow = Date(timeIntervalSince1970: 1_795_597_200)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = start.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    switch FuzzTarget.selected {
    case .json: fuzzJSON(bytes)
    case .submission: fuzzSubmission(bytes)
    case .cursor: fuzzCursor(bytes)
    }
    return 0
}

func fuzzJSON(_ bytes: [UInt8]) {
    guard let value = try? JSONValue(parsing: Data(bytes)) else { return }
    let text = value.jsonString()
    guard let again = try? JSONValue(parsing: text) else {
        fatalError("serialised JSON does not parse again: \(text.prefix(200))")
    }
    guard again == value else { fatalError("JSON changed in a round trip: \(text.prefix(200))") }
}

func fuzzSubmission(_ bytes: [UInt8]) {
    for (userID, isAdmin) in [("alice", false), ("root", true)] {
        do {
            let parsed = try rules.parse(bytes: bytes, userID: userID, isAdmin: isAdmin)
            let tree = try rules.validator.validate(parsed.items, now: fixedNow)
            for task in tree.tasks {
                guard Identifier.isValid(task.id), Identifier.isValid(task.executor) else {
                    fatalError("accepted an id or executor that cannot be a key: \(task.id.debugDescription) / \(task.executor.debugDescription)")
                }
                guard TaskRecord.priorityRange.contains(task.priority),
                      TaskRecord.maxAttemptsRange.contains(task.maxAttempts),
                      task.timeoutSeconds.map(TaskRecord.timeoutRange.contains) ?? true
                else { fatalError("accepted an out-of-range setting in task \(task.id)") }
            }
        } catch {
            // Typed throws: every refusal is a BatonError; outside input never makes an internal one.
            if error.code == .internal { fatalError("internal error for outside input: \(error)") }
        }
    }
}

func fuzzCursor(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    guard let cursor = try? Cursor(text) else { return }
    guard (0...Cursor.maxOffset).contains(cursor.offset) else { fatalError("cursor offset out of range: \(cursor.offset)") }
    if let tree = cursor.treeID, !Identifier.isValid(tree) { fatalError("cursor tree id is not an identifier") }
    guard let treeID = cursor.treeID else { return }
    guard let again = try? Cursor(Cursor(treeID: treeID, offset: cursor.offset).text),
          again.treeID == treeID, again.offset == cursor.offset
    else { fatalError("cursor does not round-trip: \(text.prefix(200))") }
}
