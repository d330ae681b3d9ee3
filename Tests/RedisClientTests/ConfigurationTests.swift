import RedisClient
import Testing

@Suite("URL parsing")
struct ConfigurationTests {
    @Test func fullURL() throws {
        let configuration = try RedisConfiguration(url: "redis://alice:s3cret@redis.example:6380/4")
        #expect(configuration.endpoint == .tcp(host: "redis.example", port: 6380))
        #expect(configuration.username == "alice")
        #expect(configuration.password == "s3cret")
        #expect(configuration.database == 4)
    }

    @Test func passwordOnly() throws {
        let configuration = try RedisConfiguration(url: "redis://:pass@h")
        #expect(configuration.endpoint == .tcp(host: "h", port: 6379))
        #expect(configuration.username == nil)
        #expect(configuration.password == "pass")
        #expect(configuration.database == 0)

        let bare = try RedisConfiguration(url: "redis://pass@h:7000")
        #expect(bare.username == nil)
        #expect(bare.password == "pass")
    }

    @Test func percentEncodedCredentials() throws {
        let configuration = try RedisConfiguration(url: "redis://us%40er:p%3Aa%2Fss%40@h:1/2")
        #expect(configuration.username == "us@er")
        #expect(configuration.password == "p:a/ss@")
        #expect(configuration.endpoint == .tcp(host: "h", port: 1))
        // A `%` that starts no escape is kept, with what follows it.
        #expect(try RedisConfiguration(url: "redis://:100%zz@h").password == "100%zz")
        #expect(try RedisConfiguration(url: "redis://:50%@h").password == "50%")
        // The last `@` separates the credentials: a password may contain `@`.
        #expect(try RedisConfiguration(url: "redis://:a@b@h").password == "a@b")
    }

    @Test func defaults() throws {
        let configuration = try RedisConfiguration(url: "redis://")
        #expect(configuration.endpoint == .tcp(host: "127.0.0.1", port: 6379))
        #expect(configuration.database == 0)
        #expect(configuration.password == nil)
        #expect(try RedisConfiguration(url: "redis://localhost/").endpoint == .tcp(host: "localhost", port: 6379))
        #expect(try RedisConfiguration(url: "redis://localhost:6390/15").database == 15)
    }

    @Test func ipv6() throws {
        #expect(try RedisConfiguration(url: "redis://[::1]:7000").endpoint == .tcp(host: "::1", port: 7000))
        #expect(try RedisConfiguration(url: "redis://[::1]").endpoint == .tcp(host: "::1", port: 6379))
        let full = try RedisConfiguration(url: "redis://u:p@[fe80::1:2]:7001/3")
        #expect(full.endpoint == .tcp(host: "fe80::1:2", port: 7001))
        #expect(full.username == "u")
        #expect(full.database == 3)
    }

    @Test func unixSocket() throws {
        let configuration = try RedisConfiguration(url: "unix:///tmp/x.sock?db=2")
        #expect(configuration.endpoint == .unix(path: "/tmp/x.sock"))
        #expect(configuration.database == 2)
        #expect(try RedisConfiguration(url: "unix:///var/run/redis.sock").database == 0)
    }

    @Test(arguments: [
        "redis://h:abc",
        "redis://h:",
        "redis://h:0",
        "redis://h:65536",
        "redis://h:-1",
        "redis://[::1]:99999",
        "redis://[::1]:x",
        "redis://[::1]junk",
    ])
    func badPort(url: String) {
        #expect(throws: RedisError.self) { try RedisConfiguration(url: url) }
        #expect(throws: RedisError.invalidConfiguration("port in \(url) must be a number between 1 and 65535")) {
            try RedisConfiguration(url: url)
        }
    }

    @Test(arguments: ["redis://h:6379/x", "redis://h/-1", "redis://h/1/2", "unix:///tmp/x.sock?db=x", "unix:///tmp/x.sock?db=-3"])
    func badDatabase(url: String) {
        #expect(throws: RedisError.invalidConfiguration("database in \(url) must be a non-negative integer")) {
            try RedisConfiguration(url: url)
        }
    }

    @Test(arguments: ["http://h:6379", "rediss://h:6379", "127.0.0.1:6379", "", "unix://relative.sock"])
    func badScheme(url: String) {
        let error = #expect(throws: RedisError.self) { try RedisConfiguration(url: url) }
        guard case .invalidConfiguration = error else {
            Issue.record("expected invalidConfiguration, got \(String(describing: error))")
            return
        }
    }

    @Test func clientConvenienceInitialiserRejectsBadURL() {
        #expect(throws: RedisError.self) { try RedisClient(url: "mysql://h") }
    }
}
