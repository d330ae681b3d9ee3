import Foundation
import Testing

@testable import BatonCore

@Suite("Timestamp")
struct TimestampTests {
    @Test("formats epoch milliseconds as RFC 3339 UTC", arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (1_795_597_200_123, "2026-11-25T09:00:00.123Z"),
        (1_709_251_199_999, "2024-02-29T23:59:59.999Z"),
        (951_868_800_000, "2000-03-01T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
    ])
    func format(millis: Int64, text: String) {
        #expect(Timestamp.rfc3339(millis: millis) == text)
        #expect(Timestamp.millis(rfc3339: text) == millis)
    }

    @Test("parses offsets, fractions and separators", arguments: [
        ("2026-11-25T09:00:00Z", Int64(1_795_597_200_000)),
        ("2026-11-25T09:00:00.1Z", 1_795_597_200_100),
        ("2026-11-25T09:00:00.123456789Z", 1_795_597_200_123),
        ("2026-11-25t09:00:00.123z", 1_795_597_200_123),
        ("2026-11-25 09:00:00.123Z", 1_795_597_200_123),
        ("2026-11-25T09:00:00.500+02:00", 1_795_590_000_500),
        ("2026-11-25T05:00:00.123-04:00", 1_795_597_200_123),
    ])
    func parse(text: String, millis: Int64) {
        #expect(Timestamp.millis(rfc3339: text) == millis)
    }

    @Test("refuses invalid text", arguments: [
        "", "2026-11-25", "2026-11-25T09:00:00", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z",
        "2026-11-25T24:00:00Z", "2026-11-25T09:60:00Z", "2026-11-25T09:00:00.Z", "2026-11-25T09:00:00Z junk",
        "2026-11-25T09:00:00+0200", "26-11-25T09:00:00Z", "2026-11-25T09:00:00.123X",
    ])
    func invalid(text: String) {
        #expect(Timestamp.millis(rfc3339: text) == nil)
        #expect(Timestamp.date(rfc3339: text) == nil)
    }

    @Test func dateConversionsForgiveFloatingPointNoise() {
        #expect(Timestamp.millis(Date(timeIntervalSince1970: 1.123)) == 1123)
        #expect(Timestamp.millis(Date(timeIntervalSince1970: 1_795_597_200.123)) == 1_795_597_200_123)
        #expect(Timestamp.millis(Date(timeIntervalSince1970: 1.1239)) == 1123)
        #expect(Timestamp.millis(Date(timeIntervalSince1970: -0.0005)) == -1)
        #expect(Timestamp.rfc3339(Date(timeIntervalSince1970: 1_795_597_200.123)) == "2026-11-25T09:00:00.123Z")
        #expect(Timestamp.date(millis: 1_795_597_200_123) == Date(timeIntervalSince1970: 1_795_597_200.123))
        #expect(Timestamp.date(rfc3339: "1970-01-01T00:00:01.500Z") == Date(timeIntervalSince1970: 1.5))
    }

    @Test func roundTripsAcrossCenturies() {
        // Every ~3.7 days from 1900 to 2100, with varying milliseconds.
        var millis: Int64 = -2_208_988_800_000
        var mismatches: [Int64] = []
        var checked = 0
        while millis < 4_102_444_800_000 {
            let text = Timestamp.rfc3339(millis: millis)
            if text.count != 24 || Timestamp.millis(rfc3339: text) != millis { mismatches.append(millis) }
            millis += 321_987_654
            checked += 1
        }
        #expect(checked > 19_000)
        #expect(mismatches.isEmpty)
    }
}
