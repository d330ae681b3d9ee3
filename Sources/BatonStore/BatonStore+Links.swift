import BatonCore
import RedisClient

/// Link nodes (SPEC "Copy, link, archive, mixed"): a link is stored `completed`, with
/// `origin_type=link`, `original_task_id` (the first non-link original), `link_tree` (that
/// original's tree) and `link_result` (the original's result JSON when the link was made, which
/// dependency injection in `include.lua`'s release reads without leaving the link's slot). It holds
/// no inputs, params or schemas of its own. Every read goes through ``resolvingLinks(_:)``.
extension BatonStore {
    /// Records from raw task hashes, link nodes resolved to their originals: the original's
    /// executor, inputs, params, schemas, result, error, timings and limits, with the link's own
    /// id, tree, parent, owner, name, priority, dependencies, origin and flags. The result is the
    /// original's while it is completed, else the `link_result` copied when the link was made.
    func resolvingLinks(_ hashes: [[String: String]]) async throws -> [TaskRecord] {
        var records = hashes.compactMap(TaskHash.record(from:))
        guard records.count == hashes.count else { return records }
        let links = hashes.indices.filter { hashes[$0]["origin_type"] == OriginType.link.rawValue }
        if links.isEmpty { return records }
        var originals: [RedisReply] = []
        var start = 0
        while start < links.count {
            let chunk = links[start..<min(start + 1000, links.count)]
            originals += try await redis.pipeline(chunk.map { index in
                let hash = hashes[index]
                return RedisCommand("HGETALL", keys.task(hash["link_tree"] ?? "", hash["original_task_id"] ?? ""))
            })
            start += chunk.count
        }
        for (index, reply) in zip(links, originals) {
            let original = reply.stringDictionary.flatMap(TaskHash.record(from:))
            records[index] = Self.resolved(records[index], original: original, linkResult: hashes[index]["link_result"])
        }
        return records
    }

    /// A link record with its original's data.
    static func resolved(_ link: TaskRecord, original: TaskRecord?, linkResult: String?) -> TaskRecord {
        var record = link
        let copied = linkResult.flatMap { try? JSONValue(parsing: $0) }
        guard let original else {
            record.result = copied
            return record
        }
        record.executor = original.executor
        record.inputs = original.inputs
        record.params = original.params
        record.schemas = original.schemas
        record.result = original.status == .completed ? original.result : copied
        record.startedAt = original.startedAt
        record.completedAt = original.completedAt ?? link.completedAt
        record.timeoutSeconds = original.timeoutSeconds
        record.maxAttempts = original.maxAttempts
        record.backoff = original.backoff
        record.concurrencyKey = original.concurrencyKey
        return record
    }
}
