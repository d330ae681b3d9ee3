import BatonCore
import BatonStore
import Foundation
import Logging
import RedisClient

/// Stores trees that apps submitted straight into Redis (`XADD <ns>:{bus}:submit * …`) and
/// answers each one: on the list `<ns>:submit:reply:<request_id>` when the entry named a
/// `request_id`, and always on the stream `<ns>:submit:results`. A malformed submission gets
/// its validation error there; it never stops the scheduler.
///
/// Entry fields: `tasks` (JSON: an array of tasks or `{"tasks": [...]}`), optional `request_id`,
/// `user_id`, `execute` (`true`/`false`, default true).
public struct SubmissionHandler: Sendable {
    let store: BatonStore
    let validator: TreeValidator
    let logger: Logger

    public init(store: BatonStore, validator: TreeValidator = TreeValidator(), logger: Logger) {
        self.store = store
        self.validator = validator
        self.logger = logger
    }

    func handle(entryID: String, fields: [String: String]) async {
        let requestID = fields["request_id"].flatMap { $0.isEmpty ? nil : $0 }
        var answer: JSONValue
        do {
            guard let body = fields["tasks"] else {
                throw BatonError.validationFailed("Submission has no 'tasks' field", field: "tasks")
            }
            let items = try TaskSubmission.decode(data: Data(body.utf8))
            let execute = fields["execute"].map { $0 != "false" && $0 != "0" } ?? true
            let userID = fields["user_id"].flatMap { $0.isEmpty ? nil : $0 }
            let result = try await store.submit(items, userID: userID, execute: execute, validator: validator)
            answer = ["ok": true, "tree_id": .string(result.treeID), "task_ids": .array(result.taskIDs.map(JSONValue.string))]
        } catch let error as BatonError {
            answer = ["ok": false, "error": error.jsonValue]
        } catch {
            answer = ["ok": false, "error": BatonError.unavailable("\(error)").jsonValue]
        }
        if case .object(var object) = answer {
            object["entry_id"] = .string(entryID)
            object["request_id"] = requestID.map(JSONValue.string) ?? .null
            answer = .object(object)
        }
        let text = answer.jsonString()
        var commands = [RedisCommand(
            "XADD", store.keys.submissionResults, "MAXLEN", "~", "10000", "*",
            "entry_id", entryID, "request_id", requestID ?? "", "reply", text)]
        if let requestID {
            let replyKey = store.keys.submissionReply(requestID)
            commands.append(RedisCommand("RPUSH", replyKey, text))
            commands.append(RedisCommand("EXPIRE", replyKey, "3600"))
        }
        do {
            _ = try await store.redis.pipeline(commands)
        } catch {
            logger.error("cannot answer submission", metadata: ["baton.entry": "\(entryID)", "baton.error": "\(error)"])
        }
    }
}
