// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "baton",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "baton", targets: ["baton"]),
        .executable(name: "baton-scheduler", targets: ["baton-scheduler"]),
        .executable(name: "baton-agent", targets: ["baton-agent"]),
        .executable(name: "baton-bench", targets: ["baton-bench"]),
        .executable(name: "baton-gateway", targets: ["baton-gateway"]),
        .library(name: "RedisClient", targets: ["RedisClient"]),
        .library(name: "BatonCore", targets: ["BatonCore"]),
        .library(name: "BatonStore", targets: ["BatonStore"]),
        // Executors of your own in your own package: implement `Executor`, then
        // `AgentMain.run(executors:builtins:)` (examples/custom-executor).
        .library(name: "BatonAgent", targets: ["BatonAgent", "BatonAgentMain"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        // Default traits off: they recompile Hummingbird on every build/test switch and pull swift-configuration.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // C and Redis
        .systemLibrary(
            name: "CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .target(name: "RedisClient", dependencies: ["CHiredis"]),

        // Domain
        .target(name: "BatonCore"),
        .target(
            name: "BatonStore",
            dependencies: ["BatonCore", "RedisClient", .product(name: "Metrics", package: "swift-metrics")],
            resources: [.copy("Lua")]
        ),
        .target(name: "BatonConfig", dependencies: [.product(name: "Yams", package: "Yams")]),
        .target(
            name: "BatonRuntime",
            dependencies: [
                "BatonStore", "BatonConfig",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "BatonScheduler",
            dependencies: [
                "BatonStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "BatonAgentMain",
            dependencies: [
                "BatonAgent", "BatonRuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "BatonAgent",
            dependencies: [
                "BatonStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        .target(
            name: "BatonGateway",
            dependencies: [
                "BatonStore", "BatonConfig",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Dashboard")]
        ),

        // Executables: parse configuration, wire services, run.
        .executableTarget(
            name: "baton-gateway",
            dependencies: [
                "BatonGateway", "BatonRuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "baton-scheduler",
            dependencies: [
                "BatonScheduler", "BatonRuntime", "BatonStore", "BatonConfig",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "baton-agent",
            dependencies: ["BatonAgentMain"]
        ),
        .executableTarget(
            name: "baton",
            dependencies: [
                "BatonRuntime", "BatonStore", "BatonConfig",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "baton-bench",
            dependencies: ["BatonRuntime", "BatonStore", "BatonConfig", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        // Tests
        .testTarget(name: "RedisClientTests", dependencies: ["RedisClient"]),
        .testTarget(name: "BatonCoreTests", dependencies: ["BatonCore"]),
        .testTarget(name: "BatonStoreTests", dependencies: ["BatonStore"]),
        .testTarget(name: "BatonAgentTests", dependencies: ["BatonAgent"]),
        .testTarget(name: "BatonConfigTests", dependencies: ["BatonConfig"]),
        .testTarget(name: "EndToEndTests", dependencies: ["BatonStore", "BatonRuntime", "BatonConfig"]),
    ]
)
