import BatonCore
@testable import BatonStore
import Testing

/// A started task is built from a stored record (outside input): anything that cannot be used as
/// it is sets `problem`, which fails the attempt with the reason — never a default value.
@Suite struct StartedTaskTests {
    func fields(inputs: String = "{}", timeout: String = "", attempt: String = "1") -> [String] {
        ["t", "ok", attempt, "x", "name", inputs, "{}", "{}", timeout]
    }

    @Test func aUsableRecordHasNoProblem() {
        let task = BatonStore.startedTask(treeID: "tree", fields: fields(inputs: #"{"a":[1]}"#, timeout: "2.5"))
        #expect(task.problem == nil && task.inputs == ["a": [1]] && task.timeoutSeconds == 2.5 && task.attempt == 1)
    }

    @Test(arguments: [
        (#"{"a":"#, "merged inputs cannot be read"),
        (String(repeating: "[", count: 600) + String(repeating: "]", count: 600), "merged inputs"),
        ("[1]", "merged inputs is not a JSON object"),
    ])
    func unreadableInputsAreAProblem(inputs: String, expected: String) {
        let task = BatonStore.startedTask(treeID: "tree", fields: fields(inputs: inputs))
        #expect(task.problem?.contains(expected) == true, "\(String(describing: task.problem))")
    }

    @Test(arguments: ["1e300", "-1", "0", "nan", "604801", "x"])
    func aTimeoutOutOfRangeIsAProblem(timeout: String) {
        let task = BatonStore.startedTask(treeID: "tree", fields: fields(timeout: timeout))
        #expect(task.problem?.contains("timeout_s") == true && task.timeoutSeconds == nil)
    }

    @Test func inputsOverTheLimitAreAProblemNotParsed() {
        let huge = #"{"blob":""# + String(repeating: "x", count: StartedTask.maxInputsBytes) + #""}"#
        let task = BatonStore.startedTask(treeID: "tree", fields: fields(inputs: huge))
        #expect(task.problem?.contains("at most \(StartedTask.maxInputsBytes)") == true)
    }

    @Test func aMalformedAttemptIsAProblem() {
        #expect(BatonStore.startedTask(treeID: "tree", fields: fields(attempt: "zero")).problem?.contains("attempt") == true)
    }
}
