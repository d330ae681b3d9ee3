import Foundation
import Synchronization

/// How many attempts of each executor type ended on this agent in the last minute, by outcome
/// (`completed`, `failed`, `cancelled`): one counter per second, 60 seconds kept, so counting
/// costs the same at 10 or 10,000 tasks a second.
final class RecentOutcomes: Sendable {
    private struct Ring {
        /// (second, count) per slot `second % 60`.
        var slots = [(second: Int64, count: Int)](repeating: (-1, 0), count: 60)

        mutating func add(at second: Int64) {
            let index = Int(second % 60)
            if slots[index].second != second { slots[index] = (second, 0) }
            slots[index].count += 1
        }

        func total(since second: Int64) -> Int {
            slots.reduce(0) { $0 + ($1.second > second ? $1.count : 0) }
        }
    }

    private let rings = Mutex<[String: [String: Ring]]>([:])

    /// Counts one attempt of `executor` that ended as `outcome`.
    func record(_ executor: String, _ outcome: String, now: Date = Date()) {
        let second = Int64(now.timeIntervalSince1970)
        rings.withLock { $0[executor, default: [:]][outcome, default: Ring()].add(at: second) }
    }

    /// The counts of the last 60 seconds, per executor type and outcome (zeros left out).
    func lastMinute(now: Date = Date()) -> [String: [String: Int]] {
        let since = Int64(now.timeIntervalSince1970) - 60
        return rings.withLock { rings in
            rings.compactMapValues { outcomes in
                let counts = outcomes.mapValues { $0.total(since: since) }.filter { $0.value > 0 }
                return counts.isEmpty ? nil : counts
            }
        }
    }
}
