import BatonCore
import BatonStore
import Logging
import ServiceLifecycle

/// Everything one scheduler process runs, in dependency order.
public enum Scheduler {
    /// The services of a scheduler: the bus consumer and the lease reaper.
    public static func services(store: BatonStore, settings: SchedulerSettings, logger: Logger) -> [any Service] {
        let submissions = SubmissionHandler(
            store: store, rules: settings.submissionRules, adminUsers: settings.adminUsers, logger: logger)
        return [
            BusConsumer(store: store, settings: settings, submissions: submissions, logger: logger),
            LeaseReaper(store: store, settings: settings, logger: logger),
            QueueGauges(store: store, interval: .seconds(5), logger: logger),
            AdmissionPublisher(store: store, settings: settings, logger: logger),
            Timekeeper(store: store, settings: settings, logger: logger),
        ]
    }
}
