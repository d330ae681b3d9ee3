import ArgumentParser

/// `baton`: the command-line client.
@main
struct Baton: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baton",
        abstract: "Baton task orchestrator: submit and inspect task trees, or run everything locally.",
        subcommands: [Submit.self, Watch.self, List.self, Why.self, Status.self, Execute.self, Get.self, TreeCommand.self,
                      Cancel.self, Reexecute.self, Copy.self, Link.self, Archive.self, Mixed.self, Delete.self, ScheduleCommand.self, Dev.self])
}
