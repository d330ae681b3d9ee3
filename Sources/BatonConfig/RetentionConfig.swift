/// How long Baton keeps what it wrote (YAML section `retention`).
public struct RetentionConfig: Sendable, Codable, Equatable {
    /// Seconds a finished tree is kept after it finished, unless its submission set `retention_s`;
    /// archived trees are kept until deleted. YAML `finished_s`.
    public var finishedSeconds: Int

    /// The longest retention a deployment or a submission may set: 10 years.
    public static let maxSeconds = 315_360_000

    /// Creates retention settings; the default keeps finished trees 7 days.
    public init(finishedSeconds: Int = 604_800) {
        self.finishedSeconds = finishedSeconds
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case finishedSeconds = "finished_s"
    }

    /// Decodes from YAML or JSON; absent keys keep their defaults, unknown keys are an error.
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        finishedSeconds = try container.decodeIfPresent(Int.self, forKey: .finishedSeconds) ?? RetentionConfig().finishedSeconds
    }
}
