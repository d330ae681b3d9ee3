@testable import BatonCore
import Foundation
import Testing

/// The cron parser against known expressions and their next firing times.
@Suite("Cron")
struct CronScheduleTests {
    static let utc = TimeZone(identifier: "UTC")!

    func next(_ expression: String, after text: String, in zone: TimeZone = utc) throws -> String? {
        let cron = try CronSchedule(expression)
        let date = try #require(Timestamp.millis(rfc3339: text).map(Timestamp.date(millis:)))
        return cron.next(after: date, in: zone).map { Timestamp.rfc3339(millis: Timestamp.millis($0)) }
    }

    @Test(arguments: [
        ("*/5 * * * *", "2026-12-02T03:01:10Z", "2026-12-02T03:05:00.000Z"),
        ("*/5 * * * *", "2026-12-02T03:05:00Z", "2026-12-02T03:10:00.000Z"),  // strictly after
        ("0 * * * *", "2026-12-02T03:00:00.001Z", "2026-12-02T04:00:00.000Z"),
        ("30 2 * * *", "2026-12-02T03:00:00Z", "2026-12-03T02:30:00.000Z"),
        ("0 9 * * MON-FRI", "2026-12-04T10:00:00Z", "2026-12-07T09:00:00.000Z"),  // Friday 10:00 → Monday
        ("0 0 1 * *", "2026-12-15T00:00:00Z", "2027-01-01T00:00:00.000Z"),
        ("0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00.000Z"),  // the next leap day
        ("15,45 8-10 * * *", "2026-12-02T09:20:00Z", "2026-12-02T09:45:00.000Z"),
        ("0 12 * JAN,JUL *", "2026-12-02T00:00:00Z", "2027-01-01T12:00:00.000Z"),
        ("0 0 * * 7", "2026-12-02T00:00:00Z", "2026-12-06T00:00:00.000Z"),  // 7 is Sunday
        ("0 0 13 * 5", "2026-12-02T00:00:00Z", "2026-12-04T00:00:00.000Z"),  // the 13th OR a Friday
        ("@daily", "2026-12-02T03:00:00Z", "2026-12-03T00:00:00.000Z"),
        ("@hourly", "2026-12-02T03:59:59Z", "2026-12-02T04:00:00.000Z"),
        ("*/2 * * * * *", "2026-12-02T03:00:01.500Z", "2026-12-02T03:00:02.000Z"),  // with seconds
        ("10-20/5 * * * *", "2026-12-02T03:16:00Z", "2026-12-02T03:20:00.000Z"),
    ])
    func knownExpressions(expression: String, after: String, expected: String) throws {
        #expect(try next(expression, after: after) == expected)
    }

    @Test func timeZonesAndDaylightSaving() throws {
        let paris = try #require(TimeZone(identifier: "Europe/Paris"))
        // 09:00 in Paris is 08:00 UTC in winter.
        #expect(try next("0 9 * * *", after: "2026-12-02T10:00:00Z", in: paris) == "2026-12-03T08:00:00.000Z")
        // 02:30 does not exist on 2027-03-28 in Paris (clocks jump from 02:00 to 03:00): that day is skipped.
        #expect(try next("30 2 * * *", after: "2027-03-27T12:00:00Z", in: paris) == "2027-03-29T00:30:00.000Z")
        // 02:30 happens twice on 2027-10-31: it fires once, at the first.
        #expect(try next("30 2 * * *", after: "2027-10-30T12:00:00Z", in: paris) == "2027-10-31T00:30:00.000Z")
        #expect(try next("30 2 * * *", after: "2027-10-31T00:30:00Z", in: paris) == "2027-11-01T01:30:00.000Z")
    }

    @Test(arguments: [
        ("* * * *", "5 fields"), ("60 * * * *", "outside 0–59"), ("* 24 * * *", "outside 0–23"),
        ("* * 0 * *", "outside 1–31"), ("* * * 13 *", "outside 1–12"), ("* * * * 8", "outside 0–7"),
        ("*/0 * * * *", "positive"), ("5-1 * * * *", "backwards"), ("a * * * *", "not a number"),
        ("1,,2 * * * *", "empty list item"), ("* * * FOO *", "not a number or a name"),
    ])
    func malformedExpressionsNameTheField(expression: String, message: String) {
        let error = #expect(throws: BatonError.self) { try CronSchedule(expression) }
        #expect(error?.field == "cron")
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
    }

    @Test func anExpressionThatNeverFiresHasNoNextTime() throws {
        #expect(try next("0 0 30 2 *", after: "2026-12-02T00:00:00Z") == nil)
    }
}
