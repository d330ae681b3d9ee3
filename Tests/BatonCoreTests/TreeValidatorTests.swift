import Foundation
import Testing

@testable import BatonCore

/// Decodes `json` and validates it with deterministic generated ids `gen-1`, `gen-2`, …
func validateJSON(
    _ json: String,
    knownExecutors: Set<String>? = nil,
    maxTasks: Int = 200_000,
    now: Date = Date(timeIntervalSince1970: 1_795_597_200.123)
) throws(BatonError) -> ValidatedTree {
    let items = try TaskSubmission.decode(data: Data(json.utf8))
    var counter = 0
    return try TreeValidator(knownExecutors: knownExecutors, maxTasks: maxTasks).validate(items, now: now) {
        counter += 1
        return "gen-\(counter)"
    }
}

/// The error `validateJSON` throws, or `nil` (recording an issue) when it succeeds.
func validationError(
    _ json: String, knownExecutors: Set<String>? = nil, maxTasks: Int = 200_000,
    sourceLocation: SourceLocation = #_sourceLocation
) -> BatonError? {
    do {
        _ = try validateJSON(json, knownExecutors: knownExecutors, maxTasks: maxTasks)
        Issue.record("expected a validation error", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

@Suite("TreeValidator")
struct TreeValidatorTests {
    @Test func buildsRecordsOfOneTree() throws {
        let tree = try validateJSON(#"""
            [{"id": "root", "name": "Root", "executor": "aggregate_results_executor",
              "dependencies": [{"name": "fetch"}, "b-id"]},
             {"name": "fetch", "parent_id": "Root", "params": {"executor_id": "rest_executor"},
              "inputs": {"url": "https://example.com"}, "priority": 0, "timeout_s": 5, "max_attempts": 3,
              "backoff": {"strategy": "exponential", "base_s": 1}},
             {"id": "b-id", "name": "b", "parent_id": "root", "schemas": {"method": "command_executor"},
              "dependencies": [{"id": "fetch", "required": false}]}]
            """#)
        #expect(tree.treeID == "root")
        #expect(tree.rootIDs == ["root"])
        #expect(tree.externalDependencies.isEmpty)
        #expect(tree.tasks.map(\.id) == ["root", "gen-1", "b-id"])
        #expect(tree.tasks.allSatisfy { $0.treeID == "root" })
        #expect(tree.tasks.map(\.parentID) == [nil, "root", "root"])
        #expect(tree.tasks.map(\.executor) == ["aggregate_results_executor", "rest_executor", "command_executor"])
        #expect(tree.tasks.map(\.hasChildren) == [true, false, false])
        #expect(tree.tasks.map(\.priority) == [2, 0, 2])
        #expect(tree.tasks[0].dependencies == [Dependency(id: "gen-1"), Dependency(id: "b-id")])
        #expect(tree.tasks[2].dependencies == [Dependency(id: "gen-1", required: false)])
        #expect(tree.tasks[1].inputs == ["url": "https://example.com"])
        #expect(tree.tasks[1].timeoutSeconds == 5)
        #expect(tree.tasks[1].maxAttempts == 3)
        #expect(tree.tasks[0].maxAttempts == 1)
        #expect(tree.tasks[1].backoff == BackoffPolicy(strategy: .exponential, baseSeconds: 1))
        for task in tree.tasks {
            #expect(task.status == .pending)
            #expect(task.originType == .create)
            #expect(task.createdAt == "2026-11-25T09:00:00.123Z")
            #expect(task.updatedAt == "2026-11-25T09:00:00.123Z")
            #expect(task.userID == nil)
            #expect(task.attempt == 0)
            #expect(task.progress == 0)
            #expect(task.result == nil)
            #expect(task.startedAt == nil)
        }
    }

    @Test func generatedIDsAreLowercaseUUIDv4() throws {
        let items = [TaskSubmission(name: "a"), TaskSubmission(name: "b", parentID: "a")]
        let tree = try TreeValidator().validate(items, now: Date())
        let pattern = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
        for task in tree.tasks { #expect(task.id.wholeMatch(of: pattern) != nil, "\(task.id)") }
        #expect(tree.tasks[0].id != tree.tasks[1].id)
        #expect(tree.tasks[1].parentID == tree.tasks[0].id)
        #expect(tree.treeID == tree.tasks[0].id)
    }

    @Test func generatedIDsAvoidClientIDs() throws {
        var produced = ["taken", "taken", "fresh"]
        let items = [TaskSubmission(id: "taken", name: "a"), TaskSubmission(name: "b")]
        let tree = try TreeValidator().validate(items, now: Date()) { produced.removeFirst() }
        #expect(tree.tasks.map(\.id) == ["taken", "fresh"])
    }

    @Test func treeIDIsFirstRootInArrayOrder() throws {
        let tree = try validateJSON(#"[{"id": "c", "name": "child", "parent_id": "r1"}, {"id": "r1", "name": "r1"}, {"id": "r2", "name": "r2"}]"#)
        #expect(tree.treeID == "r1")
        #expect(tree.rootIDs == ["r1", "r2"])
        #expect(tree.tasks.allSatisfy { $0.treeID == "r1" })
        #expect(tree.tasks.map(\.hasChildren) == [false, true, false])
    }

    @Test func emptyParentIDMeansRoot() throws {
        let tree = try validateJSON(#"[{"id": "r", "name": "r", "parent_id": ""}]"#)
        #expect(tree.tasks[0].parentID == nil)
    }

    @Test func executorDefaultsToNameLikeTheGuide() throws {
        let tree = try validateJSON(#"[{"name": "system_info_executor"}]"#, knownExecutors: ["system_info_executor"])
        #expect(tree.tasks[0].executor == "system_info_executor")
    }

    // MARK: Dependencies

    @Test func bareStringsAndNamesResolveToIDs() throws {
        let tree = try validateJSON(#"""
            [{"id": "r", "name": "root"},
             {"id": "a1", "name": "a", "parent_id": "r"},
             {"id": "b1", "name": "b", "parent_id": "root", "dependencies": ["a", "a1", {"name": "root", "required": false}]}]
            """#)
        #expect(tree.tasks[2].dependencies == [Dependency(id: "a1"), Dependency(id: "r", required: false)])
    }

    @Test func idMatchWinsOverNameMatch() throws {
        // "x" is the id of task 0 and the name of task 1.
        let tree = try validateJSON(#"[{"id": "x", "name": "first"}, {"id": "y", "name": "x"}, {"id": "z", "name": "z", "dependencies": ["x"]}]"#)
        #expect(tree.tasks[2].dependencies == [Dependency(id: "x")])
    }

    @Test func duplicatesAreRemovedKeepingFirstOccurrence() throws {
        let tree = try validateJSON(#"""
            [{"id": "r", "name": "root"},
             {"id": "a1", "name": "a"},
             {"name": "c", "dependencies": [{"id": "a1", "required": false}, "a", {"name": "a"}, "r", {"id": "a1"}, "root"]}]
            """#)
        #expect(tree.tasks[2].dependencies == [Dependency(id: "a1", required: false), Dependency(id: "r")])
    }

    @Test func externalDependenciesAreAllowedAndReported() throws {
        let tree = try validateJSON(#"""
            [{"id": "r", "name": "root", "dependencies": ["other-tree-task", {"id": "r2-task", "required": false}]},
             {"name": "child", "parent_id": "r", "dependencies": ["other-tree-task", "root"]}]
            """#)
        #expect(tree.externalDependencies == ["other-tree-task", "r2-task"])
        #expect(tree.tasks[0].dependencies == [Dependency(id: "other-tree-task"), Dependency(id: "r2-task", required: false)])
        #expect(tree.tasks[1].dependencies == [Dependency(id: "other-tree-task"), Dependency(id: "r")])
    }

    @Test func dependingOnOwnAncestorIsAllowed() throws {
        let tree = try validateJSON(#"[{"id": "r", "name": "r"}, {"id": "c", "name": "c", "parent_id": "r", "dependencies": ["r"]}]"#)
        #expect(tree.tasks[1].dependencies == [Dependency(id: "r")])
    }

    @Test func diamondIsNotACycle() throws {
        let tree = try validateJSON(#"""
            [{"name": "a"}, {"name": "b", "dependencies": ["a"]}, {"name": "c", "dependencies": ["a"]},
             {"name": "d", "dependencies": ["b", "c"]}]
            """#)
        #expect(tree.tasks[3].dependencies.count == 2)
    }

    // MARK: Refusals

    struct Refusal: Sendable, CustomTestStringConvertible {
        let rule: String
        let json: String
        let field: String
        let message: String
        var code: BatonError.Code = .validationFailed
        var testDescription: String { rule }
    }

    static let refusals: [Refusal] = [
        Refusal(rule: "empty array", json: "[]", field: "tasks", message: "Task array must not be empty"),
        Refusal(rule: "empty tasks object", json: #"{"tasks": []}"#, field: "tasks", message: "Task array must not be empty"),
        Refusal(rule: "missing name", json: #"[{"name": "a"}, {"id": "x"}]"#, field: "tasks[1].name",
                message: "Task at tasks[1] must have a non-empty name"),
        Refusal(rule: "empty name", json: #"[{"name": ""}]"#, field: "tasks[0].name",
                message: "Task at tasks[0] must have a non-empty name"),
        Refusal(rule: "blank name", json: #"[{"name": "  "}]"#, field: "tasks[0].name",
                message: "Task at tasks[0] must have a non-empty name"),
        Refusal(rule: "duplicate name", json: #"[{"name": "a"}, {"name": "b"}, {"name": "a"}]"#, field: "tasks[2].name",
                message: "Duplicate task name 'a'"),
        Refusal(rule: "duplicate id", json: #"[{"id": "x", "name": "a"}, {"id": "x", "name": "b"}]"#, field: "tasks[1].id",
                message: "Duplicate task id 'x'"),
        Refusal(rule: "empty id", json: #"[{"id": "", "name": "a"}]"#, field: "tasks[0].id",
                message: "tasks[0].id must not be empty (task 'a')"),
        Refusal(rule: "id too long", json: "[{\"id\": \"\(String(repeating: "é", count: 128))\", \"name\": \"a\"}]",
                field: "tasks[0].id", message: "tasks[0].id must be at most 255 bytes (task 'a')"),
        Refusal(rule: "id with control character", json: #"[{"id": "a\nb", "name": "a"}]"#, field: "tasks[0].id",
                message: "tasks[0].id must not contain control characters (task 'a')"),
        Refusal(rule: "priority too high", json: #"[{"name": "a", "priority": 4}]"#, field: "tasks[0].priority",
                message: "tasks[0].priority must be between 0 and 3 (task 'a')"),
        Refusal(rule: "priority negative", json: #"[{"name": "a"}, {"name": "b", "priority": -1}]"#, field: "tasks[1].priority",
                message: "tasks[1].priority must be between 0 and 3 (task 'b')"),
        Refusal(rule: "no root", json: #"[{"id": "a", "name": "a", "parent_id": "b"}, {"id": "b", "name": "b", "parent_id": "a"}]"#,
                field: "tasks", message: "At least one task must be a root (without parent_id)"),
        Refusal(rule: "unknown parent", json: #"[{"name": "r"}, {"name": "c", "parent_id": "nowhere"}]"#,
                field: "tasks[1].parent_id",
                message: "Parent 'nowhere' of task 'c' is not a valid id or name in the task array"),
        Refusal(rule: "parent cycle",
                json: #"[{"name": "r"}, {"name": "x", "parent_id": "z"}, {"name": "y", "parent_id": "x"}, {"name": "z", "parent_id": "y"}]"#,
                field: "tasks[1].parent_id", message: "Circular parent relationship detected involving task 'x'"),
        Refusal(rule: "own parent", json: #"[{"name": "r"}, {"id": "s", "name": "self", "parent_id": "s"}]"#,
                field: "tasks[1].parent_id", message: "Circular parent relationship detected involving task 'self'"),
        Refusal(rule: "self dependency by name", json: #"[{"name": "a", "dependencies": [{"name": "a"}]}]"#,
                field: "tasks[0].dependencies[0]", message: "Task 'a' cannot depend on itself"),
        Refusal(rule: "self dependency by id", json: #"[{"name": "r"}, {"id": "x", "name": "b", "dependencies": ["r", "x"]}]"#,
                field: "tasks[1].dependencies[1]", message: "Task 'b' cannot depend on itself"),
        Refusal(rule: "unknown dependency name", json: #"[{"name": "a", "dependencies": [{"name": "ghost"}]}]"#,
                field: "tasks[0].dependencies[0]",
                message: "Dependency 'ghost' of task 'a' is not a valid name in the task array"),
        Refusal(rule: "empty dependency id", json: #"[{"name": "a", "dependencies": ["b", ""]}, {"name": "b"}]"#,
                field: "tasks[0].dependencies[1]", message: "tasks[0].dependencies[1] must not be empty (task 'a')"),
        Refusal(rule: "two-task dependency cycle", json: #"[{"name": "a", "dependencies": ["b"]}, {"name": "b", "dependencies": ["a"]}]"#,
                field: "tasks[0].dependencies[0]", message: "Circular dependency detected involving task 'a'"),
        Refusal(rule: "cycle downstream of acyclic tasks",
                json: #"""
                    [{"name": "root"}, {"name": "victim", "dependencies": ["p"]},
                     {"name": "p", "dependencies": ["root", "r"]}, {"name": "q", "dependencies": ["p"]},
                     {"name": "r", "dependencies": ["q"]}]
                    """#,
                field: "tasks[2].dependencies[1]", message: "Circular dependency detected involving task 'p'"),
        Refusal(rule: "timeout zero", json: #"[{"name": "a", "timeout_s": 0}]"#, field: "tasks[0].timeout_s",
                message: "tasks[0].timeout_s must be 0 < timeout_s ≤ 604800 (7 days) (task 'a')"),
        Refusal(rule: "timeout negative", json: #"[{"name": "a", "timeout_s": -2.5}]"#, field: "tasks[0].timeout_s",
                message: "tasks[0].timeout_s must be 0 < timeout_s ≤ 604800 (7 days) (task 'a')"),
        Refusal(rule: "max_attempts zero", json: #"[{"name": "a", "max_attempts": 0}]"#, field: "tasks[0].max_attempts",
                message: "tasks[0].max_attempts must be between 1 and 100 (task 'a')"),
        Refusal(rule: "max_attempts above 100", json: #"[{"name": "a", "max_attempts": 101}]"#, field: "tasks[0].max_attempts",
                message: "tasks[0].max_attempts must be between 1 and 100 (task 'a')"),
        Refusal(rule: "backoff base negative", json: #"[{"name": "a", "backoff": {"base_s": -1}}]"#,
                field: "tasks[0].backoff.base_s", message: "tasks[0].backoff.base_s must be between 0 and 3600 (task 'a')"),
        Refusal(rule: "backoff base above 3600", json: #"[{"name": "a", "backoff": {"strategy": "fixed", "base_s": 3600.5}}]"#,
                field: "tasks[0].backoff.base_s", message: "tasks[0].backoff.base_s must be between 0 and 3600 (task 'a')"),
        Refusal(rule: "explicit empty executor", json: #"[{"name": "a", "executor": ""}]"#, field: "tasks[0].executor",
                message: "tasks[0].executor must not be empty (task 'a')"),
    ]

    @Test("every refusal names its field and task", arguments: refusals)
    func refusal(_ refusal: Refusal) throws {
        let error = try #require(validationError(refusal.json))
        #expect(error.code == refusal.code)
        #expect(error.field == refusal.field)
        #expect(error.message == refusal.message)
        #expect((400..<500).contains(error.httpStatus))
    }

    @Test func boundaryValuesAreAccepted() throws {
        let longID = String(repeating: "x", count: 255)
        let tree = try validateJSON(#"""
            [{"id": "\#(longID)", "name": "a", "priority": 0, "timeout_s": 0.001, "max_attempts": 100,
              "backoff": {"strategy": "fixed", "base_s": 3600}},
             {"name": "b", "priority": 3, "max_attempts": 1, "backoff": {"base_s": 0}}]
            """#)
        #expect(tree.tasks[0].id == longID)
        #expect(tree.tasks.map(\.priority) == [0, 3])
    }

    @Test func unknownExecutorIsRefusedOnlyWhenExecutorsAreDeclared() throws {
        let json = #"[{"name": "a", "executor": "rest_executor"}, {"name": "b", "params": {"executor_id": "gpu_executor"}}]"#
        _ = try validateJSON(json)
        _ = try validateJSON(json, knownExecutors: ["rest_executor", "gpu_executor"])
        let error = try #require(validationError(json, knownExecutors: ["rest_executor"]))
        #expect(error.message == "Unknown executor 'gpu_executor' for task 'b'")
        #expect(error.field == "tasks[1].params.executor_id")
        let byName = try #require(validationError(#"[{"name": "mystery"}]"#, knownExecutors: ["rest_executor"]))
        #expect(byName.message == "Unknown executor 'mystery' for task 'mystery'")
        #expect(byName.field == "tasks[0].name")
    }

    @Test func tooManyTasksIsPayloadTooLarge() throws {
        let error = try #require(validationError(#"[{"name": "a"}, {"name": "b"}, {"name": "c"}]"#, maxTasks: 2))
        #expect(error.code == .payloadTooLarge)
        #expect(error.httpStatus == 413)
        #expect(error.message == "Task array has 3 tasks; at most 2 are allowed")
    }

    @Test func externalDependencyWithControlCharacterIsRefused() throws {
        let error = try #require(validationError(#"[{"name": "a", "dependencies": ["bad\u0007id"]}]"#))
        #expect(error.field == "tasks[0].dependencies[0]")
        #expect(error.message == "tasks[0].dependencies[0] must not contain control characters (task 'a')")
    }

    @Test func programmaticNonObjectInputsAreRefused() throws {
        let items = [TaskSubmission(name: "a", inputs: [1, 2])]
        do {
            _ = try TreeValidator().validate(items, now: Date())
            Issue.record("expected an error")
        } catch {
            #expect(error.field == "tasks[0].inputs")
            #expect(error.message == "tasks[0].inputs must be an object (task 'a')")
        }
    }
}
