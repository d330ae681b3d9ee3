/// SplitMix64: a tiny, fast, well-mixing generator with a 64-bit state, for what must be
/// reproducible from a seed — ids derived from a submission token (``TaskID/deterministic(seed:position:)``)
/// and seeded test drivers whose failures name the seed that reproduces them. Not for secrets.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The current state; the next output is a function of it alone.
    public var state: UInt64

    /// A generator whose sequence is fixed by `seed`.
    public init(seed: UInt64) {
        state = seed
    }

    /// The next 64 bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.finalize(state)
    }

    /// The output function (the finaliser of MurmurHash3 as SplitMix uses it): every input bit
    /// moves every output bit.
    public static func finalize(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
