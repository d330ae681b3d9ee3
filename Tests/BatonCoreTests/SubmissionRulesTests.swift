import Foundation
import Testing

@testable import BatonCore

/// The checks both submission entries share (issue 8 items 1, 2, 4 and 7): ranges, identifiers,
/// the executor policy, booleans and sizes.
@Suite struct SubmissionRulesTests {
    func error(_ body: String, rules: SubmissionRules = SubmissionRules(), userID: String? = "alice", isAdmin: Bool = false)
        -> BatonError?
    {
        do {
            let parsed = try rules.parse(bytes: Array(body.utf8), userID: userID, isAdmin: isAdmin)
            _ = try rules.validator.validate(parsed.items, now: Date())
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [
        (#"[{"name": "a", "executor": "x", "timeout_s": 1e300}]"#, "tasks[0].timeout_s"),
        (#"[{"name": "a", "executor": "x", "timeout_s": 604800.5}]"#, "tasks[0].timeout_s"),
        (#"[{"name": "a", "executor": "x", "timeout_s": 0}]"#, "tasks[0].timeout_s"),
        (#"[{"name": "a", "executor": "x", "timeout_s": -1}]"#, "tasks[0].timeout_s"),
        (#"[{"name": "a", "executor": "x", "max_attempts": 101}]"#, "tasks[0].max_attempts"),
        (#"[{"name": "a", "executor": "x", "max_attempts": 9223372036854775807}]"#, "tasks[0].max_attempts"),
        (#"[{"name": "a", "executor": "x", "priority": -9223372036854775808}]"#, "tasks[0].priority"),
        (#"[{"name": "a", "executor": "x", "priority": 1e300}]"#, "tasks[0].priority"),
        (#"[{"name": "a", "executor": "x", "backoff": {"strategy": "fixed", "base_s": 3600.5}}]"#, "tasks[0].backoff.base_s"),
        (#"[{"id": "ax}:task:P", "name": "a", "executor": "x"}]"#, "tasks[0].id"),
        (#"[{"id": "P}:tree", "name": "a", "executor": "x"}]"#, "tasks[0].id"),
        (#"[{"name": "a", "executor": "e{x}"}]"#, "tasks[0].executor"),
        (#"[{"name": "a", "executor": "x", "dependencies": ["q}:tree"]}]"#, "tasks[0].dependencies[0]"),
    ])
    func outOfRangeValuesAndEscapingIDsAreRefusedByName(body: String, field: String) {
        let refused = error(body)
        #expect(refused != nil && refused?.code != .internal)
        #expect(refused?.field == field, "\(String(describing: refused))")
    }

    @Test func privilegedExecutorsAreForAdminsByDefault() {
        let policy = ExecutorPolicy.default
        for executor in ["command_executor", "rest_executor"] {
            #expect(!policy.allows(executor, userID: "alice", isAdmin: false))
            #expect(!policy.allows(executor, userID: nil, isAdmin: false))
            #expect(policy.allows(executor, userID: "root", isAdmin: true))
        }
        #expect(policy.allows("echo_executor", userID: "alice", isAdmin: false))
        #expect(policy.allows("anything", userID: nil, isAdmin: false))

        let refused = error(#"[{"name": "run", "executor": "command_executor", "inputs": {"command": "echo"}}]"#)
        #expect(refused?.code == .forbidden && refused?.field == "tasks[0].executor")
        #expect(refused?.message.contains("'run'") == true && refused?.message.contains("'command_executor'") == true)
        let byName = error(#"[{"name": "rest_executor"}]"#)
        #expect(byName?.code == .forbidden && byName?.field == "tasks[0].name")
        #expect(error(#"[{"name": "run", "executor": "command_executor"}]"#, isAdmin: true) == nil)
    }

    @Test func aConfiguredPolicyNamesUsersAndExecutors() {
        let policy = ExecutorPolicy(["*": ["echo_executor"], "alice": ["rest_executor"], "admin": ["*"]])
        #expect(policy.allows("echo_executor", userID: "bob", isAdmin: false))
        #expect(!policy.allows("sleep_executor", userID: "bob", isAdmin: false))
        #expect(policy.allows("rest_executor", userID: "alice", isAdmin: false))
        #expect(!policy.allows("command_executor", userID: "alice", isAdmin: false))
        #expect(policy.allows("command_executor", userID: "root", isAdmin: true))
        let empty = ExecutorPolicy([:])
        #expect(!empty.allows("echo_executor", userID: "root", isAdmin: true))
        // `*` in a user's own entry still leaves the privileged types out unless named.
        let star = ExecutorPolicy(["carol": ["*"]])
        #expect(star.allows("echo_executor", userID: "carol", isAdmin: false))
        #expect(!star.allows("command_executor", userID: "carol", isAdmin: false))
    }

    @Test func bodiesAreCheckedLikeTheGatewayChecksThem() {
        let small = SubmissionRules(maxBodyBytes: 64)
        let tooLarge = error(#"[{"name": "a", "executor": "x", "inputs": {"pad": "0123456789012345678901234567890123456789"}}]"#, rules: small)
        #expect(tooLarge?.code == .payloadTooLarge)
        let rules = SubmissionRules()
        #expect((try? rules.parse(bytes: [0x5B, 0x22, 0xFF, 0x22, 0x5D], userID: nil, isAdmin: false)) == nil)
        #expect(error(#"{"tasks": [{"name": "a", "executor": "x"}], "execute": "maybe"}"#)?.field == "execute")
        #expect(error(#"{"tasks": [{"name": "a", "executor": "x"}], "run": true}"#)?.field == "run")
        #expect((try? rules.parse(bytes: Array(#"{"tasks": [{"name": "a", "executor": "x"}], "execute": false}"#.utf8), userID: nil, isAdmin: false))?.execute == false)
        for text in ["maybe", "yes", "TRUE", "", "2"] {
            #expect((try? SubmissionRules.flag(text, field: "execute")) == nil, "\(text)")
        }
        #expect((try? SubmissionRules.flag("0", field: "execute")) == false)
        #expect((try? SubmissionRules.flag("true", field: "execute")) == true)
    }
}
