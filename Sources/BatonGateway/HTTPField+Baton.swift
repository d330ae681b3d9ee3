import HTTPTypes

extension HTTPField.Name {
    /// `Idempotency-Key` (POST /v1/trees).
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    /// `Idempotent-Replayed: true` on an answer given again for a repeated key.
    static let idempotentReplayed = HTTPField.Name("Idempotent-Replayed")!
    /// `Last-Event-ID`, sent by reconnecting SSE clients.
    static let lastEventID = HTTPField.Name("Last-Event-ID")!
    /// `X-Accel-Buffering: no` keeps proxies from buffering event streams.
    static let accelBuffering = HTTPField.Name("X-Accel-Buffering")!
    /// `X-Baton-CSRF`: the dashboard session's token, required on state-changing requests made with its cookie.
    static let csrfToken = HTTPField.Name("X-Baton-CSRF")!
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let xContentTypeOptions = HTTPField.Name("X-Content-Type-Options")!
}
