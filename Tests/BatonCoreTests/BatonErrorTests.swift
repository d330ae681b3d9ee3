import Foundation
import Testing

@testable import BatonCore

@Suite("BatonError")
struct BatonErrorTests {
    @Test("HTTP status per code", arguments: [
        ("invalid_argument", 400), ("validation_failed", 422), ("not_found", 404), ("conflict", 409),
        ("already_exists", 409), ("immutable", 409), ("already_terminal", 409), ("unauthorized", 401),
        ("forbidden", 403), ("payload_too_large", 413), ("unavailable", 503), ("internal", 500),
    ])
    func httpStatus(raw: String, status: Int) throws {
        let code = try #require(BatonError.Code(rawValue: raw))
        #expect(code.httpStatus == status)
        #expect(BatonError(code: code, message: "m").httpStatus == status)
    }

    @Test func everyCodeIsMapped() {
        #expect(BatonError.Code.allCases.count == 12)
        #expect(BatonError.Code.allCases.allSatisfy { (400..<600).contains($0.httpStatus) })
        #expect(BatonError.Code.allCases.filter { $0.httpStatus >= 500 } == [.unavailable, .internal])
    }

    @Test func parsesPlainScriptError() throws {
        let error = try #require(BatonError(scriptError: "BATON not_found Task X not found"))
        #expect(error.code == .notFound)
        #expect(error.message == "Task X not found")
        #expect(error.field == nil)
        #expect(error.httpStatus == 404)
    }

    @Test func parsesScriptErrorRaisedWithLuaError() throws {
        let reply = "ERR user_script:12: BATON immutable Archived task t1 is immutable; copy it before editing "
            + "script: 3f2a9c0d6e1b2a3c4d5e6f708192a3b4c5d6e7f8, on @user_script:12."
        let error = try #require(BatonError(scriptError: reply))
        #expect(error.code == .immutable)
        #expect(error.message == "Archived task t1 is immutable; copy it before editing")
    }

    @Test func parsesAlternativeErrForm() throws {
        let error = try #require(BatonError(scriptError: "ERR_ALREADY_EXISTS Task id 'a' already exists"))
        #expect(error.code == .alreadyExists)
        #expect(error.message == "Task id 'a' already exists")
    }

    @Test func alreadyTerminalCarriesCurrentStatus() throws {
        let error = try #require(BatonError(scriptError: "BATON already_terminal Task t9 is already completed"))
        #expect(error.code == .alreadyTerminal)
        #expect(error.currentStatus == "completed")
        let unrelated = try #require(BatonError(scriptError: "BATON already_terminal Task t9 is done"))
        #expect(unrelated.currentStatus == nil)
    }

    @Test func unknownCodeBecomesInternal() throws {
        let error = try #require(BatonError(scriptError: "BATON exploded Something odd"))
        #expect(error.code == .internal)
        #expect(error.message == "exploded Something odd")
    }

    @Test("non-Baton errors are not parsed", arguments: [
        "ERR wrong number of arguments for 'get' command", "NOSCRIPT No matching script", "", "BATON",
        "BATONS not_found x", "xBATON not_found x", "WRONGTYPE Operation against a key",
    ])
    func notScriptErrors(text: String) {
        #expect(BatonError(scriptError: text) == nil)
    }

    @Test func scriptErrorStringRoundTripsForEveryCode() throws {
        for code in BatonError.Code.allCases {
            let original = BatonError(code: code, message: "Task a-b c is gone")
            let parsed = try #require(BatonError(scriptError: original.scriptErrorString))
            #expect(parsed.code == code)
            #expect(parsed.message == original.message)
        }
        #expect(BatonError.taskNotFound("x").scriptErrorString == "BATON not_found Task x not found")
    }

    @Test func commonConstructors() {
        let terminal = BatonError.alreadyTerminal(taskID: "t1", status: .cancelled)
        #expect(terminal.message == "Task t1 is already cancelled")
        #expect(terminal.currentStatus == "cancelled")
        #expect(terminal.httpStatus == 409)
        #expect(BatonError.immutable(taskID: "t2").message == "Archived task t2 is immutable; copy it before editing")
        #expect(BatonError.taskNotFound("t3").message == "Task t3 not found")
        #expect(BatonError.invalidArgument("bad", field: "tasks[0].id").field == "tasks[0].id")
        #expect(BatonError.validationFailed("v").code == .validationFailed)
        #expect(BatonError.unauthorized().code == .unauthorized)
        #expect(BatonError.forbidden("Deny linking to a different user's task.").httpStatus == 403)
        #expect(BatonError.payloadTooLarge("big").httpStatus == 413)
        #expect(BatonError.unavailable("redis down").httpStatus == 503)
        #expect(BatonError.internal("bug").httpStatus == 500)
        #expect(BatonError.conflict("stale").httpStatus == 409)
        #expect(BatonError.alreadyExists("dup").code == .alreadyExists)
        #expect(BatonError.notFound("Tree x not found").code == .notFound)
    }

    @Test func descriptionAndJSON() {
        let error = BatonError.validationFailed("Duplicate task name 'a'", field: "tasks[1].name").during("submit")
        #expect(error.description == "validation_failed: Duplicate task name 'a' (field: tasks[1].name) (operation: submit)")
        #expect(error.operation == "submit")
        #expect(error.jsonValue == ["code": "validation_failed", "message": "Duplicate task name 'a'", "field": "tasks[1].name"])
        #expect(error.localizedDescription == "Duplicate task name 'a'")
        let terminal = BatonError.alreadyTerminal(taskID: "t", status: .failed)
        #expect(terminal.jsonValue["current_status"] == "failed")
        #expect(terminal.jsonValue["field"] == nil)
    }
}
