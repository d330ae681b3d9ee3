/// Any key of a mapping, used to list the keys a configuration file actually has.
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) {
        self.stringValue = "\(intValue)"
        self.intValue = intValue
    }
}

/// Fails on a key that `Keys` does not list, so a typo in the file is an error, not a silent default.
func rejectUnknownKeys<Keys: CodingKey & CaseIterable>(in decoder: any Decoder, known: Keys.Type) throws {
    let container = try decoder.container(keyedBy: AnyCodingKey.self)
    let allowed = Set(Keys.allCases.map(\.stringValue))
    if let unknown = container.allKeys.first(where: { !allowed.contains($0.stringValue) }) {
        let expected = Keys.allCases.map(\.stringValue).joined(separator: ", ")
        throw DecodingError.dataCorruptedError(
            forKey: unknown, in: container, debugDescription: "unknown key (expected one of: \(expected))")
    }
}
