import Foundation
import RedisClient

/// Measures how long Redis keeps other clients waiting while a workload runs: a probe client of
/// its own sends one `PING` every millisecond and records the longest round trip. A script that
/// holds Redis for 300 ms shows as a stall of about 300 ms (Redis runs one command at a time).
final class StallProbe: Sendable {
    private let connection: RedisConnection
    /// Probes until cancelled; its value is the longest wait.
    private let probing: Task<Duration, Never>

    /// Starts probing the Redis at `url` (on a cluster: the node it names).
    init(url: String) throws {
        let connection = RedisConnection(configuration: try RedisConfiguration(url: url))
        self.connection = connection
        probing = Task {
            _ = try? await connection.send(RedisCommand("PING"))  // connected before timing starts
            var longest = Duration.zero
            while !Task.isCancelled {
                let sent = ContinuousClock.now
                guard (try? await connection.send(RedisCommand("PING"), timeout: .seconds(30))) != nil else { break }
                longest = max(longest, ContinuousClock.now - sent)
                try? await Task.sleep(for: .milliseconds(1))
            }
            return longest
        }
    }

    /// Stops probing; returns the longest wait in milliseconds.
    func stop() async -> Double {
        probing.cancel()
        let longest = await probing.value
        connection.close()
        return longest.milliseconds
    }
}
