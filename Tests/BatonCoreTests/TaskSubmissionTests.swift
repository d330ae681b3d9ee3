import Foundation
import Testing

@testable import BatonCore

@Suite("TaskSubmission decoding")
struct TaskSubmissionTests {
    @Test func decodesBareArrayAndTasksObject() throws {
        let bare = try TaskSubmission.decode(data: Data(#"[{"name":"a"},{"name":"b","parent_id":"a"}]"#.utf8))
        let wrapped = try TaskSubmission.decode(data: Data(#"{"tasks":[{"name":"a"},{"name":"b","parent_id":"a"}]}"#.utf8))
        #expect(bare == wrapped)
        #expect(bare.map(\.name) == ["a", "b"])
        #expect(bare[1].parentID == "a")
    }

    @Test func decodesEveryField() throws {
        let json = #"""
            [{"id": "t1", "name": "fetch", "executor": "rest_executor", "parent_id": "root", "priority": 1,
              "dependencies": ["a", {"id": "b", "required": false}, {"name": "c"}, {"name": "d", "required": true}],
              "inputs": {"url": "https://x"}, "params": {"k": 1}, "schemas": {"method": "m"},
              "timeout_s": 30, "max_attempts": 4, "backoff": {"strategy": "fixed", "base_s": 2.5},
              "user_id": "mallory"}]
            """#
        let item = try #require(try TaskSubmission.decode(data: Data(json.utf8)).first)
        #expect(item.id == "t1")
        #expect(item.name == "fetch")
        #expect(item.executor == "rest_executor")
        #expect(item.parentID == "root")
        #expect(item.priority == 1)
        #expect(item.dependencies == [.id("a"), .id("b", required: false), .name("c"), .name("d", required: true)])
        #expect(item.inputs == ["url": "https://x"])
        #expect(item.params == ["k": 1])
        #expect(item.schemas == ["method": "m"])
        #expect(item.timeoutSeconds == 30)
        #expect(item.maxAttempts == 4)
        #expect(item.backoff == BackoffPolicy(strategy: .fixed, baseSeconds: 2.5))
    }

    /// A typo must not silently drop what it meant (issue 11): the field is named, and the
    /// nearest known one suggested.
    @Test(arguments: [
        (#"[{"name": "a", "dependecies": ["b"]}]"#, "tasks[0].dependecies", "tasks[0]: unknown field 'dependecies' (did you mean 'dependencies'?)"),
        (#"[{"name": "a"}, {"name": "b", "timout_s": 3}]"#, "tasks[1].timout_s", "unknown field 'timout_s' (did you mean 'timeout_s'?)"),
        (#"[{"name": "a", "Priority": 1}]"#, "tasks[0].Priority", "(did you mean 'priority'?)"),
        (#"[{"name": "a", "colour": "red"}]"#, "tasks[0].colour", "tasks[0]: unknown field 'colour'"),
        (#"[{"name": "a", "dependencies": [{"id": "b", "requird": false}]}]"#, "tasks[0].dependencies[0].requird", "(did you mean 'required'?)"),
        (#"[{"name": "a", "backoff": {"strategy": "fixed", "base": 2}}]"#, "tasks[0].backoff.base", "unknown field 'base'"),
    ])
    func unknownFieldsAreRefusedWithTheNearestName(json: String, field: String, message: String) {
        let error = #expect(throws: BatonError.self) { try TaskSubmission.decode(data: Data(json.utf8)) }
        #expect(error?.field == field, "\(String(describing: error))")
        #expect(error?.message.contains(message) == true, "\(String(describing: error))")
        if message.hasSuffix("'colour'") { #expect(error?.message.contains("did you mean") == false) }
    }

    /// apflow's documented task fields (its state and bookkeeping) are accepted and ignored.
    @Test func apflowFieldsAreAccepted() throws {
        let json = #"[{"name": "a", "status": "pending", "progress": 0, "result": null, "task_tree_id": "x", "has_children": false, "origin_type": "create", "created_at": "2026-01-01T00:00:00Z"}]"#
        let items = try TaskSubmission.decode(data: Data(json.utf8))
        #expect(items.map(\.name) == ["a"])
    }

    @Test func nullMeansAbsentAndDefaultsApply() throws {
        let json = #"[{"name": "a", "id": null, "priority": null, "dependencies": null, "inputs": null, "backoff": {}}]"#
        let item = try #require(try TaskSubmission.decode(data: Data(json.utf8)).first)
        #expect(item.id == nil)
        #expect(item.priority == nil)
        #expect(item.dependencies.isEmpty)
        #expect(item.inputs == [:])
        #expect(item.backoff == BackoffPolicy(strategy: .exponential, baseSeconds: 1))
    }

    @Test func integralDoublePriorityIsAccepted() throws {
        let item = try #require(try TaskSubmission.decode(array: [["name": "a", "priority": 2.0]]).first)
        #expect(item.priority == 2)
    }

    @Test func userIDIsIgnoredWhateverItsType() throws {
        let items = try TaskSubmission.decode(array: [["name": "a", "user_id": "mallory"], ["name": "b", "user_id": 42]])
        #expect(items.count == 2)
        #expect(items[0].jsonValue["user_id"] == nil)
    }

    @Test("wrong JSON types name the field", arguments: [
        (#"[{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "d", "priority": "high"}]"#,
         "tasks[3].priority", "tasks[3].priority must be an integer"),
        (#"[{"name": "a", "priority": 1.5}]"#, "tasks[0].priority", "tasks[0].priority must be an integer"),
        (#"[{"name": "a", "priority": true}]"#, "tasks[0].priority", "tasks[0].priority must be an integer"),
        (#"[{"name": 7}]"#, "tasks[0].name", "tasks[0].name must be a string"),
        (#"[{"name": "a", "id": 12}]"#, "tasks[0].id", "tasks[0].id must be a string"),
        (#"[{"name": "a", "executor": ["x"]}]"#, "tasks[0].executor", "tasks[0].executor must be a string"),
        (#"[{"name": "a", "parent_id": {}}]"#, "tasks[0].parent_id", "tasks[0].parent_id must be a string"),
        (#"[{"name": "a", "dependencies": "b"}]"#, "tasks[0].dependencies", "tasks[0].dependencies must be an array"),
        (#"[{"name": "a", "dependencies": ["b", 3]}]"#, "tasks[0].dependencies[1]",
         "tasks[0].dependencies[1] must be a string or an object"),
        (#"[{"name": "a", "dependencies": [{"required": true}]}]"#, "tasks[0].dependencies[0]",
         #"tasks[0].dependencies[0] must have an "id" or a "name""#),
        (#"[{"name": "a", "dependencies": [{"id": "b", "required": "yes"}]}]"#, "tasks[0].dependencies[0].required",
         "tasks[0].dependencies[0].required must be a boolean"),
        (#"[{"name": "a", "dependencies": [{"id": 5}]}]"#, "tasks[0].dependencies[0].id",
         "tasks[0].dependencies[0].id must be a string"),
        (#"[{"name": "a", "inputs": [1]}]"#, "tasks[0].inputs", "tasks[0].inputs must be an object"),
        (#"[{"name": "a", "params": "x"}]"#, "tasks[0].params", "tasks[0].params must be an object"),
        (#"[{"name": "a", "schemas": 1}]"#, "tasks[0].schemas", "tasks[0].schemas must be an object"),
        (#"[{"name": "a", "timeout_s": "10"}]"#, "tasks[0].timeout_s", "tasks[0].timeout_s must be a number"),
        (#"[{"name": "a", "max_attempts": 2.5}]"#, "tasks[0].max_attempts", "tasks[0].max_attempts must be an integer"),
        (#"[{"name": "a", "backoff": 3}]"#, "tasks[0].backoff", "tasks[0].backoff must be an object"),
        (#"[{"name": "a", "backoff": {"strategy": "linear"}}]"#, "tasks[0].backoff.strategy",
         "tasks[0].backoff.strategy must be one of fixed, exponential, not 'linear'"),
        (#"[{"name": "a", "backoff": {"base_s": "1"}}]"#, "tasks[0].backoff.base_s",
         "tasks[0].backoff.base_s must be a number"),
        (#"[{"name": "a"}, "b"]"#, "tasks[1]", "tasks[1] must be an object"),
        (#"{"tasks": {"name": "a"}}"#, "tasks", "tasks must be an array"),
        (#""tasks""#, "tasks", #"Request body must be a JSON array of tasks or an object with a "tasks" array"#),
        (#"{"name": "a"}"#, "tasks", #"Request body must be a JSON array of tasks or an object with a "tasks" array"#),
    ])
    func wrongTypes(json: String, field: String, message: String) {
        do {
            _ = try TaskSubmission.decode(data: Data(json.utf8))
            Issue.record("expected an error for \(field)")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.field == field)
            #expect(error.message == message)
            #expect(error.httpStatus == 400)
        }
    }

    @Test func malformedJSONIsInvalidArgument() {
        do {
            _ = try TaskSubmission.decode(data: Data("[{\"name\": }]".utf8))
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.hasPrefix("Invalid JSON at byte 10"))
        }
    }

    @Test("executor resolution order", arguments: [
        (JSONValue.object(["name": "n", "executor": "e", "params": ["executor_id": "p"], "schemas": ["method": "s"]]), "e"),
        (["name": "n", "params": ["executor_id": "p"], "schemas": ["method": "s"]], "p"),
        (["name": "n", "schemas": ["method": "s"]], "s"),
        (["name": "system_info_executor"], "system_info_executor"),
        (["name": "n", "params": ["executor_id": 3], "schemas": ["method": ""]], "n"),
        (["name": "n", "executor": "", "schemas": ["method": "s"]], "s"),
    ] as [(JSONValue, String)])
    func executorResolution(json: JSONValue, expected: String) throws {
        let item = try TaskSubmission(jsonValue: json)
        #expect(item.resolvedExecutor == expected)
    }

    @Test func noNameNoExecutor() throws {
        #expect(try TaskSubmission(jsonValue: [:]).resolvedExecutor == nil)
    }

    @Test func jsonValueRoundTrips() throws {
        let item = TaskSubmission(
            id: "x", name: "n", executor: "e", parentID: "p", priority: 3,
            dependencies: [.id("a"), .name("b", required: false)], inputs: ["k": "v"],
            timeoutSeconds: 1.5, maxAttempts: 2, backoff: BackoffPolicy(strategy: .fixed, baseSeconds: 0))
        #expect(try TaskSubmission(jsonValue: item.jsonValue) == item)
    }
}
