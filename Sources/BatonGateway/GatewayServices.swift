import BatonCore
import BatonStore
import Logging

/// What the route handlers share: the store, the streaming hub, metrics and limits.
struct GatewayServices: Sendable {
    let store: BatonStore
    let settings: GatewaySettings
    let hub: TreeEventHub
    let metrics: GatewayMetrics
    let idempotency: IdempotencyStore
    let logger: Logger

    var input: RequestInput { RequestInput(maxBodyBytes: settings.maxBodyBytes) }

    var validator: TreeValidator { TreeValidator(knownExecutors: settings.knownExecutors) }

    /// The checks of a new tree, the same as the Redis-native entry's (``SubmissionRules``).
    var submissionRules: SubmissionRules {
        SubmissionRules(validator: validator, executorPolicy: settings.executorPolicy, maxBodyBytes: settings.maxBodyBytes)
    }
}
