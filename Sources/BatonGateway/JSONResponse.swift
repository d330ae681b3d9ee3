import BatonCore
import Hummingbird

/// JSON answers.
enum JSONResponse {
    /// `value` as compact JSON with `Content-Type: application/json`.
    static func make(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        make(text: value.jsonString(), status: status, headers: extra)
    }

    /// Pre-serialised JSON text.
    static func make(text: String, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// `{"error": {...}}` for a ``BatonError``, with its HTTP status.
    static func error(_ error: BatonError, headers: HTTPFields = [:]) -> Response {
        make(.object(["error": error.jsonValue]), status: HTTPResponse.Status(code: error.httpStatus), headers: headers)
    }
}
