import RedisClient
import Testing

/// Scripts are named by the SHA1 of their source, computed locally: it must be Redis' own.
@Suite struct ScriptSHATests {
    @Test(arguments: [
        ("", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ("abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
    ])
    func knownVectors(text: String, sha: String) {
        #expect(RedisScript(name: "v", source: text).sha == sha)
    }

    @Test func matchesScriptLoad() async throws {
        let redis = try RedisClient(url: try TestRedis.url())
        defer { redis.close() }
        let script = RedisScript(name: "probe", source: "-- ünïcode and a long line \(String(repeating: "x", count: 200))\nreturn 42")
        let loaded = try await redis.send("SCRIPT", "LOAD", script.source).string
        #expect(loaded == script.sha)
        #expect(try await redis.eval(script, keys: [], arguments: []).int == 42)
    }
}
