import ArgumentParser
import BatonCore
import BatonStore
import Foundation

/// `baton schedule …`: trees copied and executed at each due time of a cron expression or an interval.
struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Create, list, pause, resume and delete schedules, and list their runs.",
        subcommands: [Create.self, List.self, Show.self, Pause.self, Resume.self, Delete.self, Runs.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store a tree as a schedule's template; at each due time a copy of it runs. Prints the schedule as JSON.")

        @OptionGroup var options: ClientOptions

        @Argument(help: "A JSON or YAML file with the array of tasks to run at each due time.")
        var file: String

        @Option(help: ArgumentHelp("A cron expression: 5 fields (minute hour day month weekday) or 6 (seconds first), e.g. \"*/5 * * * *\".", valueName: "EXPR"))
        var cron: String?

        @Option(help: ArgumentHelp("Fire every this many seconds instead of a cron expression.", valueName: "S"))
        var every: Int?

        @Option(help: "The IANA time zone of the cron fields.")
        var timezone = "UTC"

        @Option(help: "What a due time does while the previous run has not finished: skip, allow or cancel_previous.")
        var overlap = "skip"

        func run() async throws {
            let items = try TreeFile.load(file)
            var body: [String: JSONValue] = ["tree": .array(items.map(\.jsonValue)), "timezone": .string(timezone), "overlap": .string(overlap)]
            if let cron { body["cron"] = .string(cron) }
            if let every { body["every_s"] = .int(every) }
            let validator = try options.validator()
            let request = try ScheduleRequest(.object(body), rules: SubmissionRules(validator: validator), userID: options.userID, isAdmin: true)
            let store = try await options.store()
            let schedule = try await store.createSchedule(
                request.items, userID: options.userID, timing: request.timing, timeZoneName: request.timeZoneName,
                overlap: request.overlap, validator: validator)
            print(schedule.jsonValue.jsonString())
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Your schedules, newest first.")

        @OptionGroup var options: ClientOptions

        func run() async throws {
            let store = try await options.store()
            let schedules = try await store.schedules(userID: options.userID)
            for schedule in schedules {
                let timing = schedule.cron.map { "cron \"\($0)\" \(schedule.timeZone)" } ?? "every \(schedule.everySeconds ?? 0) s"
                let next = schedule.paused ? "paused" : schedule.nextAt.map { "next \(Timestamp.rfc3339(millis: $0))" } ?? "no due time left"
                print("\(schedule.id)  \(timing)  \(next)  \(schedule.runs) runs, \(schedule.skipped) skipped  (overlap \(schedule.overlap.rawValue))")
            }
            if schedules.isEmpty { print("(no schedule)") }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One schedule as JSON.")

        @OptionGroup var options: ClientOptions

        @Argument(help: "The schedule id.")
        var id: String

        func run() async throws {
            print(try await options.store().schedule(id, userID: options.userID).jsonValue.jsonString())
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pause a schedule: no due time fires until it is resumed.")

        @OptionGroup var options: ClientOptions

        @Argument(help: "The schedule id.")
        var id: String

        func run() async throws {
            print(try await options.store().setSchedule(id, userID: options.userID, paused: true).jsonValue.jsonString())
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume a paused schedule from its first due time after now.")

        @OptionGroup var options: ClientOptions

        @Argument(help: "The schedule id.")
        var id: String

        func run() async throws {
            print(try await options.store().setSchedule(id, userID: options.userID, paused: false).jsonValue.jsonString())
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a schedule and its template (the runs made so far stay).")

        @OptionGroup var options: ClientOptions

        @Argument(help: "The schedule id.")
        var id: String

        func run() async throws {
            try await options.store().deleteSchedule(id, userID: options.userID)
        }
    }

    struct Runs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A schedule's runs, newest first: due time, the copy's tree id, its status.")

        @OptionGroup var options: ClientOptions

        @Argument(help: "The schedule id.")
        var id: String

        @Option(help: "At most this many runs.")
        var limit = 20

        func run() async throws {
            let runs = try await options.store().scheduleRuns(id, userID: options.userID, limit: limit)
            for run in runs { print("\(Timestamp.rfc3339(millis: run.dueAt))  \(run.treeID)  \(run.status ?? "deleted")") }
            if runs.isEmpty { print("(no run yet)") }
        }
    }
}
