import Foundation

/// A cron expression: when a schedule fires, in a time zone.
///
/// Five fields `minute hour day-of-month month day-of-week`, or six with a leading `second`
/// field. Each field is `*`, a value, a range `a-b`, a step `*/n` or `a-b/n` (or `a/n`: from a
/// to the end), or a comma-separated list of those. Months may be `JAN`…`DEC`, weekdays
/// `SUN`…`SAT` (0 and 7 are Sunday). When both day-of-month and day-of-week are restricted, a day
/// matching either fires (as Vixie cron does). Macros: `@yearly` (`@annually`), `@monthly`,
/// `@weekly`, `@daily` (`@midnight`), `@hourly`.
///
/// Local times that do not exist (the hour skipped when clocks go forward) do not fire; a local
/// time that happens twice (clocks going back) fires once, at its first occurrence.
public struct CronSchedule: Sendable, Hashable {
    public let expression: String
    let seconds: [Int]
    let minutes: [Int]
    let hours: [Int]
    let daysOfMonth: Set<Int>
    let months: Set<Int>
    let weekdays: Set<Int>  // 0 = Sunday … 6
    let restrictedDayOfMonth: Bool
    let restrictedWeekday: Bool

    private static let macros = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]
    private static let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    private static let weekdayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

    /// Parses `expression`.
    /// - Throws: `invalid_argument` naming `field` and what is wrong.
    public init(_ expression: String, field: String = "cron") throws(BatonError) {
        self.expression = expression
        let text = Self.macros[expression.trimmingCharacters(in: .whitespaces).lowercased()] ?? expression
        var parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard parts.count == 5 || parts.count == 6 else {
            throw BatonError.invalidArgument(
                "\(field) must have 5 fields (minute hour day month weekday) or 6 (with seconds first), got \(parts.count): '\(expression)'",
                field: field)
        }
        if parts.count == 5 { parts.insert("0", at: 0) }
        func values(_ index: Int, _ name: String, _ range: ClosedRange<Int>, names: [String] = [], offset: Int = 0) throws(BatonError) -> [Int] {
            try Self.field(parts[index], name: name, range: range, names: names, nameOffset: offset, field: field, expression: expression)
        }
        seconds = try values(0, "second", 0...59)
        minutes = try values(1, "minute", 0...59)
        hours = try values(2, "hour", 0...23)
        daysOfMonth = Set(try values(3, "day of month", 1...31))
        months = Set(try values(4, "month", 1...12, names: Self.monthNames, offset: 1))
        weekdays = Set(try values(5, "day of week", 0...7, names: Self.weekdayNames).map { $0 % 7 })
        restrictedDayOfMonth = parts[3] != "*" && parts[3] != "?"
        restrictedWeekday = parts[5] != "*" && parts[5] != "?"
    }

    private static func field(
        _ text: String, name: String, range: ClosedRange<Int>, names: [String], nameOffset: Int, field: String, expression: String
    ) throws(BatonError) -> [Int] {
        func fail(_ why: String) -> BatonError {
            BatonError.invalidArgument("\(field): the \(name) field '\(text)' \(why) (in '\(expression)')", field: field)
        }
        func number(_ token: Substring) throws(BatonError) -> Int {
            if let value = Int(token) {
                guard range.contains(value) else { throw fail("has \(value), outside \(range.lowerBound)–\(range.upperBound)") }
                return value
            }
            if let index = names.firstIndex(of: token.uppercased()) { return index + nameOffset }
            throw fail("is not a number\(names.isEmpty ? "" : " or a name")")
        }
        var result = Set<Int>()
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw fail("has an empty list item") }
            let stepParts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard stepParts.count <= 2 else { throw fail("has more than one '/'") }
            var step = 1
            if stepParts.count == 2 {
                guard let value = Int(stepParts[1]), value >= 1 else { throw fail("has a step that is not a positive number") }
                step = value
            }
            let base = stepParts[0]
            var low = range.lowerBound, high = range.upperBound
            if base == "*" || base == "?" {
                // the whole range
            } else if let dash = base.firstIndex(of: "-") {
                low = try number(base[..<dash])
                high = try number(base[base.index(after: dash)...])
                guard low <= high else { throw fail("has a range that goes backwards") }
            } else {
                low = try number(base)
                if stepParts.count == 1 { high = low }
            }
            var value = low
            while value <= high {
                result.insert(value)
                value += step
            }
        }
        return result.sorted()
    }

    /// Whether a day (1-based day of month, month, weekday 0 = Sunday) fires.
    func matches(day: Int, month: Int, weekday: Int) -> Bool {
        guard months.contains(month) else { return false }
        switch (restrictedDayOfMonth, restrictedWeekday) {
        case (true, true): return daysOfMonth.contains(day) || weekdays.contains(weekday)
        case (true, false): return daysOfMonth.contains(day)
        case (false, true): return weekdays.contains(weekday)
        case (false, false): return true
        }
    }

    /// The first time strictly after `date` that fires, in `timeZone`; `nil` when none does within
    /// eight years (e.g. `0 0 30 2 *`, February 30th).
    public func next(after date: Date, in timeZone: TimeZone) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let startOfDay = calendar.startOfDay(for: date)
        let now = calendar.dateComponents([.hour, .minute, .second], from: date)
        let (nowHour, nowMinute, nowSecond) = (now.hour ?? 0, now.minute ?? 0, now.second ?? 0)
        for offset in 0..<(366 * 8) {
            guard let day = calendar.date(byAdding: .day, value: offset, to: startOfDay) else { return nil }
            let parts = calendar.dateComponents([.year, .month, .day, .weekday], from: day)
            guard let year = parts.year, let month = parts.month, let dayOfMonth = parts.day, let weekday = parts.weekday,
                  matches(day: dayOfMonth, month: month, weekday: weekday - 1)
            else { continue }
            let today = offset == 0
            for hour in hours where !(today && hour < nowHour) {
                for minute in minutes where !(today && hour == nowHour && minute < nowMinute) {
                    for second in seconds where !(today && hour == nowHour && minute == nowMinute && second < nowSecond) {
                        let wanted = DateComponents(year: year, month: month, day: dayOfMonth, hour: hour, minute: minute, second: second)
                        guard let candidate = calendar.date(from: wanted), candidate > date else { continue }
                        // A local time that does not exist is moved by Foundation: skip it.
                        let got = calendar.dateComponents([.day, .hour, .minute, .second], from: candidate)
                        guard got.day == dayOfMonth, got.hour == hour, got.minute == minute, got.second == second else { continue }
                        return candidate
                    }
                }
            }
        }
        return nil
    }
}
