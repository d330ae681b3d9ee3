import BatonCore
import BatonStore
import Foundation
import Logging
import RedisClient

/// Stores trees that apps submitted straight into Redis (`XADD <ns>:{bus}:submit * …`) and
/// answers each one: on the list `<ns>:submit:reply:<request_id>` when the entry named a valid
/// `request_id`, and always on the stream `<ns>:submit:results`. A malformed submission gets
/// its validation error there; it never stops the scheduler.
///
/// Entry fields: `tasks` (JSON: an array of tasks or `{"tasks": [...], "execute": bool}`),
/// optional `request_id`, `user_id`, `execute` (`true`/`false`/`1`/`0`, default true). The
/// entry passes exactly the gateway's checks (``SubmissionRules``): the body size limit, strict
/// UTF-8, booleans that are booleans, the executor policy for the named user (admins are the
/// users with an admin API key), ids that fit their keys. An entry without `user_id` owns its
/// tree as nobody's, and may depend only on tasks that nobody owns.
public struct SubmissionHandler: Sendable {
    /// The fields an entry may have.
    public static let knownFields: Set<String> = ["tasks", "request_id", "user_id", "execute", "retention_s"]

    let store: BatonStore
    let rules: SubmissionRules
    let adminUsers: Set<String>
    let logger: Logger

    public init(store: BatonStore, rules: SubmissionRules = SubmissionRules(), adminUsers: Set<String> = [], logger: Logger) {
        self.store = store
        self.rules = rules
        self.adminUsers = adminUsers
        self.logger = logger
    }

    /// Stores and answers one entry. Returns `false` — nothing answered, the entry must not be
    /// acknowledged — when the outcome is unknown or only postponed: Redis failed or was
    /// unavailable part-way. The entry is then read again and replayed with the same token, which
    /// completes whatever the first attempt stored.
    func handle(entryID: String, fields: [String: [UInt8]]) async -> Bool {
        // A request id names the reply list, so it must be usable in a key; an unusable one is
        // answered on the results stream only (with the error saying why).
        let requestIDText = fields["request_id"].flatMap { String(validating: $0, as: UTF8.self) }
        let requestID = requestIDText.flatMap { $0.isEmpty || !Identifier.isValid($0) ? nil : $0 }
        var answer: JSONValue
        do {
            let result = try await submit(fields, entryID: entryID)
            answer = ["ok": true, "tree_id": .string(result.treeID), "task_ids": .array(result.taskIDs.map(JSONValue.string))]
        } catch let error as BatonError where error.code != .unavailable {
            answer = ["ok": false, "error": error.jsonValue]
        } catch {
            logger.warning("submission postponed; it will be replayed", metadata: ["baton.entry": "\(entryID)", "baton.error": "\(error)"])
            return false
        }
        if case .object(var object) = answer {
            object["entry_id"] = .string(entryID)
            object["request_id"] = requestIDText.map(JSONValue.string) ?? .null
            answer = .object(object)
        }
        do {
            try await store.answerSubmission(entryID: entryID, requestID: requestIDText, replyKeyID: requestID, answer: answer.jsonString())
        } catch {
            // Not answered: replaying the entry answers it (its tree, if stored, is found again).
            logger.error("cannot answer submission", metadata: ["baton.entry": "\(entryID)", "baton.error": "\(error)"])
            return false
        }
        return true
    }

    /// Checks an entry exactly as the gateway checks a request, then stores its tree.
    private func submit(_ fields: [String: [UInt8]], entryID: String) async throws -> SubmitResult {
        if let unknown = fields.keys.sorted().first(where: { !Self.knownFields.contains($0) }) {
            throw BatonError.invalidArgument(
                "Unknown field '\(unknown)'; allowed: \(Self.knownFields.sorted().joined(separator: ", "))", field: unknown)
        }
        func text(_ name: String) throws(BatonError) -> String? {
            guard let bytes = fields[name] else { return nil }
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw BatonError.invalidArgument("\(name) is not valid UTF-8", field: name)
            }
            return text
        }
        if let requestID = try text("request_id"), !requestID.isEmpty {
            try Identifier.check(requestID, field: "request_id")
        }
        let userID = try text("user_id").flatMap { $0.isEmpty ? nil : $0 }
        if let userID { try Identifier.check(userID, field: "user_id") }
        let executeField = try text("execute").map { (flag) throws(BatonError) in
            try SubmissionRules.flag(flag, field: "execute")
        }
        let retentionField = try text("retention_s").map { (text) throws(BatonError) -> Int in
            guard let seconds = Int(text) else {
                throw BatonError.invalidArgument("retention_s must be an integer number of seconds, not '\(text)'", field: "retention_s")
            }
            return try SubmissionRules.retention(.int(seconds))
        }
        guard let body = fields["tasks"] else {
            throw BatonError.validationFailed("Submission has no 'tasks' field", field: "tasks")
        }
        let isAdmin = userID.map(adminUsers.contains) ?? false
        let parsed = try rules.parse(bytes: body, userID: userID, isAdmin: isAdmin)
        if let executeField, let inBody = parsed.execute, executeField != inBody {
            throw BatonError.invalidArgument(
                "execute is \(executeField) in the entry but \(inBody) in tasks; give it once", field: "execute")
        }
        // The entry id names the submission: a replay of this entry (after a crash) generates the
        // same ids and finds its own reservation and stored tree, and completes instead of failing.
        return try await store.submit(
            parsed.items, userID: userID, execute: executeField ?? parsed.execute ?? true, validator: rules.validator,
            token: entryID, retentionSeconds: retentionField ?? parsed.retentionSeconds, runAtMillis: parsed.runAtMillis)
    }
}
