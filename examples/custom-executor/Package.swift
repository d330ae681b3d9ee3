// swift-tools-version: 6.1
import PackageDescription

// An agent with an executor of its own, built on Baton's agent runtime (the `BatonAgent` product).
// In your own package, depend on Baton by URL or path: here it is the repository two levels up.
let package = Package(
    name: "custom-executor",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "baton", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "shout-agent",
            dependencies: [.product(name: "BatonAgent", package: "baton")]
        ),
    ]
)
