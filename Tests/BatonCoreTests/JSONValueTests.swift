import Foundation
import Testing

@testable import BatonCore

@Suite("JSONValue")
struct JSONValueTests {
    @Test("integers stay integers, other numbers become doubles", arguments: [
        ("3", JSONValue.int(3)),
        ("-42", .int(-42)),
        ("0", .int(0)),
        ("3.5", .double(3.5)),
        ("3.0", .double(3.0)),
        ("1e2", .double(100)),
        ("-2.5E-3", .double(-0.0025)),
        ("9223372036854775807", .int(Int.max)),
        ("-9223372036854775808", .int(Int.min)),
        ("9223372036854775808", .double(9_223_372_036_854_775_808)),
    ])
    func numbers(text: String, expected: JSONValue) throws {
        #expect(try JSONValue(parsing: text) == expected)
    }

    @Test func parsesNestedDocument() throws {
        let value = try JSONValue(parsing: #" { "a" : [1, 2.5, true, false, null, "x"], "b": {"c": {}}, "d": [] } "#)
        #expect(value["a"] == [1, 2.5, true, false, nil, "x"])
        #expect(value["a"]?[0] == .int(1))
        #expect(value["a"]?[9] == nil)
        #expect(value["b"]?["c"] == .object([:]))
        #expect(value["d"] == .array([]))
        #expect(value["missing"] == nil)
    }

    @Test func serialisesCompactWithSortedKeys() throws {
        let value: JSONValue = ["b": 1, "a": [true, nil, 2.5, "x"], "c": ["z": -1, "y": 0.5]]
        #expect(value.jsonString() == #"{"a":[true,null,2.5,"x"],"b":1,"c":{"y":0.5,"z":-1}}"#)
        #expect(String(decoding: value.jsonData, as: UTF8.self) == value.jsonString())
        #expect(value.description == value.jsonString())
    }

    @Test func unsortedSerialisationHasSameContent() throws {
        let value: JSONValue = ["b": 1, "a": 2, "c": ["d": 3]]
        let text = value.jsonString(sorted: false)
        #expect(try JSONValue(parsing: text) == value)
    }

    @Test func roundTripKeepsTypes() throws {
        let original: JSONValue = [
            "int": 7, "double": 7.25, "whole double": 2.0, "small": 1e-7, "big": 1e300,
            "negative": -12, "bool": false, "null": nil, "text": "plain",
            "nested": ["list": [1, [2, [3, ["deep": true]]]], "empty": [:]],
        ]
        let reparsed = try JSONValue(parsing: original.jsonString())
        #expect(reparsed == original)
        #expect(reparsed["whole double"] == .double(2.0))
        #expect(reparsed["int"] == .int(7))
    }

    @Test func unicodeAndEscapes() throws {
        let text = "héllo ☃ 😀 \"quoted\" back\\slash\ttab\nline \u{01} / end"
        let value = JSONValue.string(text)
        let encoded = value.jsonString()
        #expect(encoded == #""héllo ☃ 😀 \"quoted\" back\\slash\ttab\nline \u0001 / end""#)
        #expect(try JSONValue(parsing: encoded) == value)
        #expect(try JSONValue(parsing: #""\u00e9\ud83d\ude00\/\b\f\r""#) == .string("é😀/\u{08}\u{0C}\r"))
        #expect(try JSONValue(parsing: #"{"clé ✓": "valeur"}"#)["clé ✓"] == "valeur")
    }

    @Test("malformed JSON is refused with invalid_argument", arguments: [
        "", "   ", "{", "[1,]", "[1 2]", "{\"a\" 1}", "{\"a\":1,}", "{1:2}", "01", "-", "1.", "1e", ".5", "+1",
        "\"abc", "tru", "nul", "1 2", "[\"\u{01}\"]", #""\ud83d""#, #""\ude00""#, #""\x""#, #""\u12g4""#, "1e400",
    ])
    func malformed(text: String) {
        #expect(throws: BatonError.self) { try JSONValue(parsing: text) }
        do {
            _ = try JSONValue(parsing: text)
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.hasPrefix("Invalid JSON at byte"))
        }
    }

    @Test func invalidUTF8IsRefused() {
        let bytes = Data([UInt8(ascii: "\""), 0xC3, 0x28, UInt8(ascii: "\"")])
        #expect(throws: BatonError.self) { try JSONValue(parsing: bytes) }
    }

    @Test func byteOrderMarkIsTolerated() throws {
        let bytes = Data([0xEF, 0xBB, 0xBF] + Array("[1]".utf8))
        #expect(try JSONValue(parsing: bytes) == [1])
    }

    @Test func nestingDepthIsBounded() throws {
        let allowed = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        #expect(try JSONValue(parsing: allowed).arrayValue?.count == 1)
        let tooDeep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        #expect(throws: BatonError.self) { try JSONValue(parsing: tooDeep) }
    }

    @Test func duplicateKeysKeepLastValue() throws {
        #expect(try JSONValue(parsing: #"{"a":1,"a":2}"#) == ["a": 2])
    }

    @Test func integersSerialiseExactly() throws {
        let value: JSONValue = [0, 7, -7, 10, -100, .int(Int.max), .int(Int.min)]
        #expect(value.jsonString() == "[0,7,-7,10,-100,9223372036854775807,-9223372036854775808]")
        #expect(try JSONValue(parsing: value.jsonString()) == value)
    }

    @Test func nonFiniteDoublesSerialiseAsNull() {
        #expect(JSONValue.array([.double(.infinity), .double(.nan)]).jsonString() == "[null,null]")
    }

    @Test func accessors() {
        let object: JSONValue = ["s": "x", "i": 3, "d": 2.0, "f": 2.5, "b": true, "a": [1], "o": ["k": nil]]
        #expect(object["s"]?.stringValue == "x")
        #expect(object["i"]?.intValue == 3)
        #expect(object["i"]?.doubleValue == 3.0)
        #expect(object["d"]?.intValue == 2)
        #expect(object["f"]?.intValue == nil)
        #expect(object["f"]?.doubleValue == 2.5)
        #expect(object["b"]?.boolValue == true)
        #expect(object["a"]?.arrayValue == [1])
        #expect(object["o"]?.objectValue == ["k": .null])
        #expect(object["o"]?["k"]?.isNull == true)
        #expect(object["s"]?.intValue == nil)
        #expect(object["i"]?.stringValue == nil)
        #expect(object["b"]?.doubleValue == nil)
        #expect(object.objectValue?.count == 7)
        #expect(JSONValue.int(1)["key"] == nil)
        #expect(object["i"]?.typeName == "integer")
        #expect(object["f"]?.typeName == "number")
    }

    @Test func codableKeepsIntegers() throws {
        let text = #"[1, 2.5, true, "s", null, {"a": 1, "b": [false]}]"#
        let decoded = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(decoded == [1, 2.5, true, "s", nil, ["a": 1, "b": [false]]])
        #expect(decoded[0] == .int(1))
        #expect(decoded[2] == .bool(true))
        let encoded = try JSONEncoder().encode(decoded)
        #expect(try JSONValue(parsing: encoded) == decoded)
    }
}
