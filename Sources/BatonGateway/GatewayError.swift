import BatonCore

/// The gateway's own refusals, in Baton's one error vocabulary (``BatonError``).
enum GatewayError {
    /// No key, or a key nobody configured (401).
    static var unauthorized: BatonError {
        .unauthorized("Missing or unknown API key: send Authorization: Bearer <key>")
    }

    /// A request body larger than the configured limit (413).
    static func bodyTooLarge(limit: Int) -> BatonError {
        .payloadTooLarge("Request body is larger than \(limit) bytes")
    }

    /// A route that needs a body got none (400).
    static var bodyRequired: BatonError {
        .invalidArgument("Request body must be a JSON value", field: "body")
    }

    /// A path parameter that cannot be an id (400).
    static func badPathParameter(_ name: String) -> BatonError {
        .invalidArgument("\(name) is not a valid id: it must be 1 to 255 bytes of UTF-8 without control characters", field: name)
    }

    /// A query parameter of the wrong form (400).
    static func badQuery(_ name: String, _ expectation: String) -> BatonError {
        .invalidArgument("Query parameter \(name) \(expectation)", field: name)
    }
}
