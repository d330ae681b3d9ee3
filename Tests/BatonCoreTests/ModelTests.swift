import Foundation
import Testing

@testable import BatonCore

@Suite("Task model")
struct ModelTests {
    @Test func statusRawValuesAndTerminality() {
        #expect(TaskStatus.allCases.map(\.rawValue) == ["pending", "in_progress", "completed", "failed", "cancelled"])
        #expect(TaskStatus.allCases.filter(\.isTerminal) == [.completed, .failed, .cancelled])
        #expect(TaskStatus(rawValue: "in_progress") == .inProgress)
        #expect(TaskStatus(rawValue: "running") == nil)
    }

    @Test func originTypeRawValues() {
        #expect(OriginType.allCases.map(\.rawValue) == ["create", "copy", "link", "archive"])
    }

    @Test func dependencyCodable() throws {
        let decoded = try JSONDecoder().decode([Dependency].self, from: Data(#"[{"id":"a"},{"id":"b","required":false}]"#.utf8))
        #expect(decoded == [Dependency(id: "a", required: true), Dependency(id: "b", required: false)])
        let encoded = try JSONValue(parsing: JSONEncoder().encode(Dependency(id: "x", required: false)))
        #expect(encoded == ["id": "x", "required": false])
        #expect(Dependency(id: "x").jsonValue == ["id": "x", "required": true])
    }

    @Test("backoff delays", arguments: [
        (BackoffPolicy.Strategy.fixed, 5.0, 1, 5.0),
        (.fixed, 5.0, 7, 5.0),
        (.fixed, 1000.0, 1, 300.0),
        (.exponential, 1.0, 1, 1.0),
        (.exponential, 1.0, 2, 2.0),
        (.exponential, 1.0, 4, 8.0),
        (.exponential, 0.5, 3, 2.0),
        (.exponential, 1.0, 9, 256.0),
        (.exponential, 1.0, 10, 300.0),
        (.exponential, 2.0, 10_000, 300.0),
        (.exponential, 3.0, 0, 3.0),
        (.exponential, 0.0, 50, 0.0),
    ])
    func backoff(strategy: BackoffPolicy.Strategy, base: Double, attempt: Int, expected: Double) {
        #expect(BackoffPolicy(strategy: strategy, baseSeconds: base).delay(afterAttempt: attempt) == expected)
    }

    @Test func backoffCodableUsesBaseS() throws {
        let policy = BackoffPolicy(strategy: .exponential, baseSeconds: 1.5)
        #expect(try JSONValue(parsing: JSONEncoder().encode(policy)) == ["strategy": "exponential", "base_s": 1.5])
        let decoded = try JSONDecoder().decode(BackoffPolicy.self, from: Data(#"{"strategy":"fixed","base_s":2}"#.utf8))
        #expect(decoded == BackoffPolicy(strategy: .fixed, baseSeconds: 2))
    }

    static let sample = TaskRecord(
        id: "t1", treeID: "root", parentID: "root", name: "fetch", executor: "rest_executor", userID: "alice",
        priority: 0, dependencies: [Dependency(id: "d1"), Dependency(id: "d2", required: false)],
        inputs: ["url": "https://example.com", "n": 3], params: ["executor_id": "rest_executor"],
        schemas: ["method": "rest_executor"], status: .failed, result: ["partial": [1, 2]], error: "boom",
        progress: 0.5, createdAt: "2026-11-25T09:00:00.123Z", updatedAt: "2026-11-25T09:00:01.000Z",
        startedAt: "2026-11-25T09:00:00.500Z", completedAt: "2026-11-25T09:00:01.000Z", cancelRequestedAt: nil,
        attempt: 2, originType: .copy, originalTaskID: "orig", hasChildren: true, hasReferences: true,
        timeoutSeconds: 30, maxAttempts: 3, backoff: BackoffPolicy(strategy: .fixed, baseSeconds: 2),
        maxLeaseLosses: 5, leaseLosses: 1, blockedBy: "d1")

    @Test func recordJSONHasEveryKeySnakeCased() throws {
        let object = try #require(ModelTests.sample.jsonValue.objectValue)
        #expect(Set(object.keys) == Set(TaskRecord.Field.allCases.map(\.rawValue)))
        #expect(object.count == 32)
        #expect(object["tree_id"] == "root")
        #expect(object["cancel_requested_at"] == .null)
        #expect(object["status"] == "failed")
        #expect(object["origin_type"] == "copy")
        #expect(object["timeout_s"] == .double(30))
        #expect(object["backoff"] == ["strategy": "fixed", "base_s": 2.0])
        #expect(object["dependencies"] == [["id": "d1", "required": true], ["id": "d2", "required": false]])
        #expect(object["priority"] == .int(0))
    }

    @Test func minimalRecordWritesNullsAndDefaults() throws {
        let record = TaskRecord(id: "a", treeID: "a", name: "a", executor: "x")
        let object = try #require(record.jsonValue.objectValue)
        #expect(object.count == TaskRecord.Field.allCases.count)
        for key in ["parent_id", "user_id", "result", "error", "created_at", "started_at", "timeout_s", "backoff", "blocked_by"] {
            #expect(object[key] == .null, "\(key) should be null")
        }
        #expect(object["priority"] == 2)
        #expect(object["max_attempts"] == 1)
        #expect(object["max_lease_losses"] == 3)
        #expect(object["lease_losses"] == 0)
        #expect(object["inputs"] == [:])
        #expect(object["status"] == "pending")
        #expect(object["origin_type"] == "create")
        // Through JSONEncoder too: nil optionals are present as null.
        let encoded = try JSONValue(parsing: JSONEncoder().encode(record))
        #expect(encoded["parent_id"] == .null)
        #expect(encoded.objectValue?.count == TaskRecord.Field.allCases.count)
    }

    @Test func recordRoundTrips() throws {
        let sample = ModelTests.sample
        #expect(try TaskRecord(jsonValue: sample.jsonValue) == sample)
        #expect(try TaskRecord(jsonValue: JSONValue(parsing: sample.jsonValue.jsonString())) == sample)
        let viaCodable = try JSONDecoder().decode(TaskRecord.self, from: JSONEncoder().encode(sample))
        #expect(viaCodable == sample)
    }

    @Test func recordDecodingDefaultsMissingFields() throws {
        let record = try TaskRecord(jsonValue: ["id": "a", "tree_id": "a", "name": "n", "executor": "e", "result": nil])
        #expect(record == TaskRecord(id: "a", treeID: "a", name: "n", executor: "e"))
        #expect(record.result == nil)
    }

    @Test("record decoding names the bad field", arguments: [
        (JSONValue.object(["tree_id": "a", "name": "n", "executor": "e"]), "id", "id is required"),
        (["id": "a", "tree_id": "a", "name": "n", "executor": "e", "priority": "high"], "priority", "priority must be an integer"),
        (["id": "a", "tree_id": "a", "name": "n", "executor": "e", "status": "running"], "status",
         "status must be one of pending, in_progress, completed, failed, cancelled, not 'running'"),
        (["id": "a", "tree_id": "a", "name": "n", "executor": "e", "dependencies": [1]], "dependencies[0]",
         "dependencies[0] must be an object"),
        (["id": "a", "tree_id": "a", "name": "n", "executor": "e", "inputs": [1]], "inputs", "inputs must be an object"),
        (["id": "a", "tree_id": "a", "name": "n", "executor": "e", "backoff": ["base_s": "1"]], "backoff.base_s",
         "backoff.base_s must be a number"),
        (["id": "a", "tree_id": 5, "name": "n", "executor": "e"], "tree_id", "tree_id must be a string"),
    ] as [(JSONValue, String, String)])
    func recordDecodingErrors(json: JSONValue, field: String, message: String) {
        do {
            _ = try TaskRecord(jsonValue: json)
            Issue.record("expected an error for \(field)")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.field == field)
            #expect(error.message == message)
        }
    }
}

@Suite("TaskID")
struct TaskIDTests {
    @Test func generatesDistinctLowercaseUUIDv4() {
        let pattern = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
        let ids = (0..<10_000).map { _ in TaskID.generate() }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.wholeMatch(of: pattern) != nil })
        #expect(UUID(uuidString: ids[0])?.uuidString.lowercased() == ids[0])
        // All four variant characters and every hex digit occur somewhere.
        #expect(Set(ids.map { $0[$0.index($0.startIndex, offsetBy: 19)] }) == ["8", "9", "a", "b"])
        #expect(Set(ids.joined().filter { $0 != "-" }).count == 16)
    }
}
