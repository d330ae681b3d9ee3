import BatonCore
import Foundation
import RedisClient

/// What a schedule does when the previous run has not finished at the next due time.
public enum ScheduleOverlap: String, Sendable, Hashable, CaseIterable {
    /// The due time passes without a run (counted as skipped).
    case skip
    /// The new run starts beside the previous one.
    case allow
    /// The previous run is cancelled, then the new one starts.
    case cancelPrevious = "cancel_previous"
}

/// When a schedule fires: a cron expression in a time zone, or every so many seconds.
public enum ScheduleTiming: Sendable, Hashable {
    case cron(CronSchedule, timeZone: TimeZone)
    case every(seconds: Int)

    /// The largest `every_s`: one year.
    public static let maxEverySeconds = 31_536_000

    /// The first due time strictly after `millis` (epoch ms); `anchor` is when an `every`
    /// schedule was created (its due times are anchor + k · every_s, k ≥ 1).
    func next(after millis: Int64, anchor: Int64) -> Int64? {
        switch self {
        case .cron(let cron, let timeZone):
            return cron.next(after: Timestamp.date(millis: millis), in: timeZone).map(Timestamp.millis)
        case .every(let seconds):
            let period = Int64(seconds) * 1000
            return anchor + (max(0, millis - anchor) / period + 1) * period
        }
    }
}

/// A schedule's record (`<ns>:{s:<id>}:schedule`): a template tree copied and executed at each due time.
public struct ScheduleRecord: Sendable, Hashable {
    public var id: String
    public var userID: String?
    /// The stored template tree (never executed itself).
    public var templateTreeID: String
    public var cron: String?
    public var everySeconds: Int?
    public var timeZone: String
    public var overlap: ScheduleOverlap
    public var paused: Bool
    /// The next due time (epoch ms).
    public var nextAt: Int64?
    public var lastAt: Int64?
    public var lastTreeID: String?
    public var runs: Int
    public var skipped: Int
    public var createdAt: Int64

    init?(hash: [String: String]) {
        guard let id = hash["id"], let template = hash["template"], let overlap = hash["overlap"].flatMap(ScheduleOverlap.init(rawValue:))
        else { return nil }
        self.id = id
        userID = hash["user_id"].flatMap { $0.isEmpty ? nil : $0 }
        templateTreeID = template
        cron = hash["cron"].flatMap { $0.isEmpty ? nil : $0 }
        everySeconds = hash["every_s"].flatMap { Int($0) }
        timeZone = hash["timezone"] ?? "UTC"
        self.overlap = overlap
        paused = hash["paused"] == "1"
        nextAt = hash["next_at"].flatMap { Int64($0) }
        lastAt = hash["last_at"].flatMap { Int64($0) }
        lastTreeID = hash["last_tree"].flatMap { $0.isEmpty ? nil : $0 }
        runs = hash["runs"].flatMap { Int($0) } ?? 0
        skipped = hash["skipped"].flatMap { Int($0) } ?? 0
        createdAt = hash["created_at"].flatMap { Int64($0) } ?? 0
    }

    /// The timing the record names, `nil` when it cannot be read.
    var timing: ScheduleTiming? {
        if let cron, let parsed = try? CronSchedule(cron), let zone = TimeZone(identifier: timeZone) {
            return .cron(parsed, timeZone: zone)
        }
        return everySeconds.map { .every(seconds: $0) }
    }

    public var jsonValue: JSONValue {
        func time(_ millis: Int64?) -> JSONValue { millis.map { .string(Timestamp.rfc3339(millis: $0)) } ?? .null }
        return [
            "schedule_id": .string(id), "user_id": userID.map(JSONValue.string) ?? .null,
            "template_tree_id": .string(templateTreeID),
            "cron": cron.map(JSONValue.string) ?? .null, "every_s": everySeconds.map(JSONValue.int) ?? .null,
            "timezone": .string(timeZone), "overlap": .string(overlap.rawValue), "paused": .bool(paused),
            "next_at": paused ? .null : time(nextAt), "last_at": time(lastAt),
            "last_tree_id": lastTreeID.map(JSONValue.string) ?? .null,
            "runs": .int(runs), "skipped": .int(skipped), "created_at": time(createdAt),
        ]
    }
}

/// One run of a schedule: the copy made for a due time.
public struct ScheduleRun: Sendable, Hashable {
    public var dueAt: Int64
    public var treeID: String
    /// The copy's status now (`nil`: deleted since, e.g. by retention).
    public var status: String?

    public var jsonValue: JSONValue {
        ["due_at": .string(Timestamp.rfc3339(millis: dueAt)), "tree_id": .string(treeID), "status": status.map(JSONValue.string) ?? .null]
    }
}

extension BatonStore {
    /// The timer member of a schedule.
    static func scheduleTimer(_ scheduleID: String) -> String { "schedule\t\(scheduleID)" }

    /// Creates a schedule: stores `items` as its template tree (not executed), then at each due
    /// time copies the template and executes the copy.
    /// - Parameters:
    ///   - timing: `.cron` (5 or 6 fields, in a time zone) or `.every(seconds:)` (1 s … 1 year).
    ///   - overlap: what a due time does while the previous run has not finished.
    /// - Throws: ``BatonError`` — as ``submit(_:userID:execute:validator:token:retentionSeconds:runAtMillis:)``
    ///   for the tree; `invalid_argument` naming `cron` when it never fires, `every_s` out of range.
    public func createSchedule(
        _ items: [TaskSubmission], userID: String?, timing: ScheduleTiming, timeZoneName: String = "UTC",
        overlap: ScheduleOverlap = .skip, validator: TreeValidator = TreeValidator()
    ) async throws -> ScheduleRecord {
        let now = clock()
        if case .every(let seconds) = timing, !(1...ScheduleTiming.maxEverySeconds).contains(seconds) {
            throw BatonError.invalidArgument("every_s must be an integer from 1 to \(ScheduleTiming.maxEverySeconds)", field: "every_s")
        }
        guard let next = timing.next(after: now, anchor: now) else {
            throw BatonError.invalidArgument("cron never fires (e.g. a day that no month has)", field: "cron")
        }
        let template = try await submit(items, userID: userID, execute: false, validator: validator)
        let id = TaskID.generate()
        var fields = [
            "id", id, "user_id", userID ?? "", "template", template.treeID, "timezone", timeZoneName,
            "overlap", overlap.rawValue, "paused", "0", "next_at", String(next), "runs", "0", "skipped", "0",
            "created_at", String(now), "updated_at", String(now),
        ]
        switch timing {
        case .cron(let cron, _): fields += ["cron", cron.expression]
        case .every(let seconds): fields += ["every_s", String(seconds)]
        }
        _ = try await redis.pipeline([
            RedisCommand(["HSET", keys.schedule(id)] + fields),
            RedisCommand("ZADD", keys.userSchedules(userID ?? ""), String(now), id),
            RedisCommand("ZADD", keys.schedules, String(now), id),
            RedisCommand("ZADD", keys.timers, String(next), Self.scheduleTimer(id)),
        ]).throwingFirstError()
        return try await schedule(id, userID: userID)
    }

    /// A schedule; `userID` `nil` reads anyone's (an admin).
    /// - Throws: `not_found` for a missing schedule or another user's.
    public func schedule(_ scheduleID: String, userID: String?) async throws -> ScheduleRecord {
        guard Identifier.isValid(scheduleID),
              let hash = try await redis.send("HGETALL", keys.schedule(scheduleID)).stringDictionary,
              let record = ScheduleRecord(hash: hash),
              userID == nil || record.userID == userID
        else { throw BatonError.notFound("Schedule \(scheduleID) not found", field: "schedule_id") }
        return record
    }

    /// The caller's schedules (every user's for an admin, `userID == nil`), newest first.
    public func schedules(userID: String?, limit: Int = 100) async throws -> [ScheduleRecord] {
        let index = userID.map(keys.userSchedules) ?? keys.schedules
        let ids = (try await redis.send("ZREVRANGE", index, "0", String(max(0, limit - 1))).array ?? []).compactMap(\.string)
        let hashes = try await redis.pipeline(ids.map { RedisCommand("HGETALL", keys.schedule($0)) })
        return hashes.compactMap { $0.stringDictionary.flatMap(ScheduleRecord.init(hash:)) }
    }

    /// Pauses (no due time fires) or resumes (the next due time after now) a schedule.
    public func setSchedule(_ scheduleID: String, userID: String?, paused: Bool) async throws -> ScheduleRecord {
        let record = try await schedule(scheduleID, userID: userID)
        if paused {
            _ = try await redis.pipeline([
                RedisCommand("HSET", keys.schedule(scheduleID), "paused", "1", "updated_at", String(clock())),
                RedisCommand("ZREM", keys.timers, Self.scheduleTimer(scheduleID)),
            ]).throwingFirstError()
        } else if record.paused {
            let now = clock()
            guard let next = record.timing?.next(after: now, anchor: record.anchor) else {
                throw BatonError.conflict("Schedule \(scheduleID) has no due time left", field: "schedule_id")
            }
            _ = try await redis.pipeline([
                RedisCommand("HSET", keys.schedule(scheduleID), "paused", "0", "next_at", String(next), "updated_at", String(now)),
                RedisCommand("ZADD", keys.timers, String(next), Self.scheduleTimer(scheduleID)),
            ]).throwingFirstError()
        }
        return try await schedule(scheduleID, userID: userID)
    }

    /// Deletes a schedule and its template tree; the runs made so far stay (they are trees of
    /// their own, kept as retention says).
    public func deleteSchedule(_ scheduleID: String, userID: String?) async throws {
        let record = try await schedule(scheduleID, userID: userID)
        _ = try await redis.pipeline([
            RedisCommand("ZREM", keys.timers, Self.scheduleTimer(scheduleID)),
            RedisCommand("DEL", keys.schedule(scheduleID), keys.scheduleRuns(scheduleID)),
            RedisCommand("ZREM", keys.userSchedules(record.userID ?? ""), scheduleID),
            RedisCommand("ZREM", keys.schedules, scheduleID),
        ]).throwingFirstError()
        do {
            // The template never ran: cancelled first, it is a finished tree to delete.
            _ = try await cancelTree(record.templateTreeID, userID: nil, message: "Schedule \(scheduleID) deleted")
            try await deleteTree(record.templateTreeID, userID: nil, mode: .finished)
        } catch let error as BatonError where error.code == .notFound {
            // deleted by hand before
        }
    }

    /// A schedule's runs, newest first, with each copy's status now.
    public func scheduleRuns(_ scheduleID: String, userID: String?, limit: Int = 100) async throws -> [ScheduleRun] {
        _ = try await schedule(scheduleID, userID: userID)
        let reply = (try await redis.send("ZREVRANGE", keys.scheduleRuns(scheduleID), "0", String(max(0, limit - 1)), "WITHSCORES").array ?? [])
            .compactMap(\.string)
        var runs: [ScheduleRun] = []
        for index in stride(from: 0, to: reply.count - 1, by: 2) {
            // A score planted by hand may be anything: only an epoch-ms integer is a run.
            guard let due = Double(reply[index + 1]).flatMap({ Int64(exactly: $0) }) else { continue }
            runs.append(ScheduleRun(dueAt: due, treeID: reply[index]))
        }
        let statuses = try await redis.pipeline(runs.map { RedisCommand("HGET", keys.tree($0.treeID), "status") })
        for index in runs.indices { runs[index].status = statuses[index].string }
        return runs
    }

    /// Fires a schedule whose timer came due: copies the template (with a token naming the
    /// schedule and the due time, so the same due time always makes the same copy), executes
    /// the copy, and records the run (`fireSchedule.lua`: only one firing of a due time counts).
    /// A due time missed while no scheduler ran fires once, late, and the next one is the first
    /// after now: missed runs are not replayed one by one.
    func fireSchedule(_ scheduleID: String, now: Int64) async throws {
        let timer = Self.scheduleTimer(scheduleID)
        guard Identifier.isValid(scheduleID),
              let hash = try await redis.send("HGETALL", keys.schedule(scheduleID)).stringDictionary,
              let record = ScheduleRecord(hash: hash), !record.paused, let due = record.nextAt, let timing = record.timing
        else {
            _ = try await redis.send("ZREM", keys.timers, timer)
            return
        }
        if due > now {  // another scheduler fired it already: the timer follows the record
            _ = try await redis.send("ZADD", keys.timers, String(due), timer)
            return
        }
        guard let next = timing.next(after: max(due, now), anchor: record.anchor) else {
            _ = try await redis.send("ZREM", keys.timers, timer)
            return
        }
        var runTree = ""
        var previousRunning = false
        if let last = record.lastTreeID, record.overlap != .allow,
           let status = try await redis.send("HGET", keys.tree(last), "status").string {
            previousRunning = !["completed", "failed", "cancelled"].contains(status)
        }
        if previousRunning, record.overlap == .cancelPrevious, let last = record.lastTreeID {
            _ = try await cancelTree(last, userID: nil, message: "Cancelled by the next run of schedule \(scheduleID)")
            previousRunning = false
        }
        if !previousRunning {
            do {
                let copy = try await copyTree(
                    record.templateTreeID, userID: nil, ownerID: record.userID, token: "schedule-\(scheduleID)-\(due)")
                try await startTree(copy.treeID, userID: nil)
                runTree = copy.treeID
            } catch let error as BatonError where error.code == .notFound {
                // the template is gone: the schedule cannot run any more
                _ = try await redis.send("ZREM", keys.timers, timer)
                return
            }
        }
        let call = RedisScriptCall(
            ScheduleScript.fireSchedule.script, keys: ScheduleScript.fireSchedule.keys(keys, schedule: scheduleID),
            arguments: [String(due), String(next), runTree, String(now)])
        _ = try await run([call], operation: "schedule")
        _ = try await redis.send("ZADD", keys.timers, String(next), timer)
    }
}

extension ScheduleRecord {
    /// When an `every` schedule's due times are counted from.
    var anchor: Int64 { createdAt }
}

extension Array where Element == RedisReply {
    /// Throws the first error reply of a pipeline.
    func throwingFirstError() throws -> [RedisReply] {
        if let failed = first(where: { $0.errorMessage != nil }) { _ = try failed.throwingError() }
        return self
    }
}

/// A `POST /v1/schedules` body (also what `baton schedule create` sends): `{"tree": [...],
/// "cron": "*/5 * * * *" | "every_s": 300, "timezone": "Europe/Paris", "overlap": "skip"}`.
public struct ScheduleRequest: Sendable {
    public var items: [TaskSubmission]
    public var timing: ScheduleTiming
    public var timeZoneName: String
    public var overlap: ScheduleOverlap

    /// The body's fields.
    public static let fields: Set<String> = ["tree", "cron", "every_s", "timezone", "overlap"]

    /// Checks a body: the template tree as a submission (`rules`), exactly one of `cron` and
    /// `every_s`, a known IANA `timezone` (default `UTC`), an `overlap` policy (default `skip`).
    /// - Throws: `invalid_argument` naming the field; `forbidden` from the executor policy.
    public init(_ body: JSONValue, rules: SubmissionRules, userID: String?, isAdmin: Bool) throws(BatonError) {
        guard case .object(let members) = body else {
            throw BatonError.invalidArgument("Request body must be a JSON object", field: "body")
        }
        if let unknown = members.keys.sorted().first(where: { !Self.fields.contains($0) }) {
            throw BatonError.invalidArgument(
                "Unknown field '\(unknown)'; allowed: \(Self.fields.sorted().joined(separator: ", "))", field: unknown)
        }
        guard let tree = members["tree"], case .array = tree else {
            throw BatonError.invalidArgument("tree must be the array of tasks to run at each due time", field: "tree")
        }
        items = try rules.parse(tree, userID: userID, isAdmin: isAdmin).items
        timeZoneName = "UTC"
        if let zone = members["timezone"], !zone.isNull {
            guard let name = zone.stringValue, TimeZone(identifier: name) != nil else {
                throw BatonError.invalidArgument("timezone must be an IANA time zone name, e.g. Europe/Paris", field: "timezone")
            }
            timeZoneName = name
        }
        overlap = .skip
        if let value = members["overlap"], !value.isNull {
            guard let text = value.stringValue, let policy = ScheduleOverlap(rawValue: text) else {
                throw BatonError.invalidArgument("overlap must be skip, allow or cancel_previous", field: "overlap")
            }
            overlap = policy
        }
        let cron = members["cron"].flatMap { $0.isNull ? nil : $0 }
        let every = members["every_s"].flatMap { $0.isNull ? nil : $0 }
        switch (cron, every) {
        case (let cron?, nil):
            guard let text = cron.stringValue else { throw BatonError.invalidArgument("cron must be a string", field: "cron") }
            timing = .cron(try CronSchedule(text), timeZone: TimeZone(identifier: timeZoneName)!)
        case (nil, let every?):
            guard let seconds = every.intValue, (1...ScheduleTiming.maxEverySeconds).contains(seconds) else {
                throw BatonError.invalidArgument("every_s must be an integer from 1 to \(ScheduleTiming.maxEverySeconds)", field: "every_s")
            }
            timing = .every(seconds: seconds)
        default:
            throw BatonError.invalidArgument("Give exactly one of cron and every_s", field: "cron")
        }
    }
}
