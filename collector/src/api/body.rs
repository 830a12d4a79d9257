//! Request bodies: size limits, gzip, and JSON shape limits checked before deserialising.
//!
//! Order of defences, cheapest first: the declared `Content-Length`; the bytes actually read (capped,
//! so a lying or chunked client cannot exceed [`Limits::max_body_bytes`]); decompression streamed into
//! a capped buffer (a gzip bomb stops at [`Limits::max_decoded_bytes`] + 1 bytes); a byte scan of the
//! JSON for nesting depth, string length and array length ([`scan_json`]), so serde never allocates for
//! a hostile shape; then typed deserialisation. Refusals name the limit that was hit.
//!
//! Limitation: string lengths are measured on the raw JSON (escapes included), slightly stricter than
//! the decoded length.

use super::error::{
    ApiError, INVALID_JSON, INVALID_REQUEST, LIMIT_EXCEEDED, PAYLOAD_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use std::io::Read;
use std::time::Duration;

/// A full inventory of a large server is ~2–5 MB of JSON and compresses ~10×; 8 MiB on the wire is
/// generous for a report while bounding what one request can make us buffer.
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Enrollment, renewal, check-in and admin bodies are a few hundred bytes.
pub const DEFAULT_MAX_SMALL_BODY_BYTES: usize = 64 * 1024;
/// After gzip: 100,000 packages at ~300 bytes each is 30 MB; 64 MiB leaves room and caps memory.
pub const DEFAULT_MAX_DECODED_BYTES: usize = 64 * 1024 * 1024;
/// The inventory nests ~5 levels and a delta ~8; 32 is far above any honest document.
pub const DEFAULT_MAX_JSON_DEPTH: usize = 32;
/// No inventory value (a package version, a service description) comes near 4 KiB.
pub const DEFAULT_MAX_STRING_BYTES: usize = 4 * 1024;
/// The largest honest list is a package list; any JSON array longer than this is refused.
pub const DEFAULT_MAX_ARRAY_ITEMS: usize = 100_000;
/// Packages per inventory (distributions ship ~60,000 packages in all; nobody installs more).
pub const DEFAULT_MAX_PACKAGES: usize = 100_000;
/// Every other inventory list (users, services, ports, disks...) and delta operations.
pub const DEFAULT_MAX_LIST_ITEMS: usize = 10_000;
/// Reports being decoded and applied at once; more are told to retry (429), which keeps memory bounded
/// (each may hold up to `max_decoded_bytes`) and leaves the 2-core budget to the rest of the collector.
pub const DEFAULT_MAX_CONCURRENT_REPORTS: usize = 8;
/// Whole request, body read included: a slow client cannot hold a slot for ever.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// TLS handshake (and the first byte before it).
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Reading a request's headers (slowloris), and idle keep-alive connections.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Open connections; further clients wait in the kernel's accept queue.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Every input limit of the HTTPS service, in one place (the collector config maps onto it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_small_body_bytes: usize,
    pub max_decoded_bytes: usize,
    pub max_json_depth: usize,
    pub max_string_bytes: usize,
    pub max_array_items: usize,
    pub max_packages: usize,
    pub max_list_items: usize,
    pub max_concurrent_reports: usize,
    pub request_timeout: Duration,
    pub tls_handshake_timeout: Duration,
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_small_body_bytes: DEFAULT_MAX_SMALL_BODY_BYTES,
            max_decoded_bytes: DEFAULT_MAX_DECODED_BYTES,
            max_json_depth: DEFAULT_MAX_JSON_DEPTH,
            max_string_bytes: DEFAULT_MAX_STRING_BYTES,
            max_array_items: DEFAULT_MAX_ARRAY_ITEMS,
            max_packages: DEFAULT_MAX_PACKAGES,
            max_list_items: DEFAULT_MAX_LIST_ITEMS,
            max_concurrent_reports: DEFAULT_MAX_CONCURRENT_REPORTS,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            tls_handshake_timeout: DEFAULT_TLS_HANDSHAKE_TIMEOUT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// How the body is encoded, from `Content-Type` and `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
}

/// Checks the headers of a JSON request and returns its content encoding.
pub fn check_headers(headers: &HeaderMap) -> Result<Encoding, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            UNSUPPORTED_MEDIA_TYPE,
            format!(
                "the body must be JSON sent with 'Content-Type: application/json' (got '{content_type}')"
            ),
        ));
    }
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|value| value.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("identity") | Some("") => Ok(Encoding::Identity),
        Some("gzip") | Some("x-gzip") => Ok(Encoding::Gzip),
        Some(other) => Err(ApiError::new(
            UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Encoding '{other}' is not supported; send gzip or no encoding"),
        )),
    }
}

/// Reads at most `limit` bytes of body; a longer body is a 413.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            PAYLOAD_TOO_LARGE,
            format!("the request body exceeds the limit of {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(error) => Err(ApiError::new(
            INVALID_REQUEST,
            format!("reading the request body failed: {error}"),
        )),
    }
}

/// Decompresses (if needed), checks the JSON's shape against `limits`, and deserialises it.
/// CPU-bound for large bodies: call it off the async workers.
pub fn decode_json<T: DeserializeOwned>(
    bytes: &[u8],
    encoding: Encoding,
    limits: &Limits,
) -> Result<T, ApiError> {
    let decoded;
    let json: &[u8] = match encoding {
        Encoding::Identity => bytes,
        Encoding::Gzip => {
            decoded = gunzip_capped(bytes, limits.max_decoded_bytes)?;
            &decoded
        }
    };
    scan_json(json, limits).map_err(|error| ApiError::new(LIMIT_EXCEEDED, error))?;
    serde_json::from_slice(json).map_err(|error| match error.classify() {
        serde_json::error::Category::Data => ApiError::new(
            INVALID_REQUEST,
            format!("the body is JSON but not the expected message: {error}"),
        ),
        _ => ApiError::new(INVALID_JSON, format!("the body is not valid JSON: {error}")),
    })
}

fn gunzip_capped(bytes: &[u8], max: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    let decoder = flate2::read::MultiGzDecoder::new(bytes);
    decoder
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|error| {
            ApiError::new(
                INVALID_JSON,
                format!(
                    "the body is not valid gzip ({error}); compress with gzip or send plain JSON"
                ),
            )
        })?;
    if out.len() > max {
        return Err(ApiError::new(
            PAYLOAD_TOO_LARGE,
            format!("the request body exceeds the limit of {max} bytes once decompressed"),
        ));
    }
    Ok(out)
}

/// Checks nesting depth, string lengths and array lengths of JSON text without building it.
/// Syntax errors are left to the parser; this only guarantees the parser a bounded shape.
pub fn scan_json(json: &[u8], limits: &Limits) -> Result<(), String> {
    // One entry per open container: `Some(items)` for arrays, `None` for objects.
    let mut stack: Vec<Option<usize>> = Vec::new();
    let mut awaiting_item = false;
    let mut index = 0;
    while index < json.len() {
        let byte = json[index];
        let starts_value = matches!(
            byte,
            b'"' | b'{' | b'[' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n'
        );
        if starts_value && awaiting_item {
            awaiting_item = false;
            if let Some(Some(items)) = stack.last_mut() {
                *items += 1;
                if *items > limits.max_array_items {
                    return Err(format!(
                        "a JSON array has more than {} items (the limit)",
                        limits.max_array_items
                    ));
                }
            }
        }
        match byte {
            b'"' => {
                let start = index + 1;
                index = start;
                while index < json.len() && json[index] != b'"' {
                    index += if json[index] == b'\\' { 2 } else { 1 };
                }
                if index.min(json.len()) - start > limits.max_string_bytes {
                    return Err(format!(
                        "a JSON string is longer than {} bytes (the limit)",
                        limits.max_string_bytes
                    ));
                }
            }
            b'{' | b'[' => {
                stack.push((byte == b'[').then_some(0));
                awaiting_item = byte == b'[';
                if stack.len() > limits.max_json_depth {
                    return Err(format!(
                        "the JSON nests deeper than {} levels (the limit)",
                        limits.max_json_depth
                    ));
                }
            }
            b'}' | b']' => {
                stack.pop();
                awaiting_item = false;
            }
            b',' => awaiting_item = matches!(stack.last(), Some(Some(_))),
            _ => {}
        }
        index += 1;
    }
    Ok(())
}

/// A list-length check with a message naming the list and the limit.
pub fn check_list(name: &str, len: usize, max: usize) -> Result<(), ApiError> {
    if len > max {
        return Err(ApiError::new(
            LIMIT_EXCEEDED,
            format!("{name} has {len} items; at most {max} are accepted"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn small_limits() -> Limits {
        Limits {
            max_json_depth: 3,
            max_string_bytes: 8,
            max_array_items: 3,
            max_decoded_bytes: 1000,
            ..Limits::default()
        }
    }

    fn check(json: &str, expected: Result<(), &str>) {
        let result = scan_json(json.as_bytes(), &small_limits());
        match expected {
            Ok(()) => assert_eq!(result, Ok(()), "{json}"),
            Err(fragment) => {
                let error = result.expect_err(json);
                assert!(error.contains(fragment), "{json}: {error}");
            }
        }
    }

    #[test]
    fn the_scanner_enforces_depth_strings_and_arrays_and_ignores_brackets_in_strings() {
        check(r#"{"a":[1,2,3],"b":{"c":"12345678"}}"#, Ok(()));
        check(r#"[[["x"]]]"#, Ok(()));
        check(r#"[[[["x"]]]]"#, Err("deeper than 3"));
        check(r#"{"a":"[[[[[[[["}"#, Ok(()));
        check(r#"{"a":"\"\"\"[[[["}"#, Err("longer than 8"));
        check(r#"{"a":"123456789"}"#, Err("longer than 8"));
        check(r#"[1,2,3,4]"#, Err("more than 3 items"));
        check(
            r#"[[1,2,3],[1,2,3],[],{"k":[true,false,null]}]"#,
            Err("more than 3 items"),
        );
        check(r#"[ [1,2,3] , [1,2,3] , [ ] ]"#, Ok(()));
        check(r#"{"a":1,"b":2,"c":3,"d":4}"#, Ok(()));
        check(r#"["unterm"#, Ok(()));
    }

    #[test]
    fn gzip_is_decoded_up_to_the_cap_and_a_bomb_is_refused() {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(br#"{"a":1}"#).unwrap();
        let small = encoder.finish().unwrap();
        let value: serde_json::Value =
            decode_json(&small, Encoding::Gzip, &small_limits()).unwrap();
        assert_eq!(value["a"], 1);

        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(&vec![b' '; 10_000]).unwrap();
        let bomb = encoder.finish().unwrap();
        let error =
            decode_json::<serde_json::Value>(&bomb, Encoding::Gzip, &small_limits()).unwrap_err();
        assert_eq!(error.code, PAYLOAD_TOO_LARGE);
        assert!(
            error.message.contains("1000 bytes once decompressed"),
            "{}",
            error.message
        );

        let error = decode_json::<serde_json::Value>(b"{not gzip", Encoding::Gzip, &small_limits())
            .unwrap_err();
        assert!(
            error.message.contains("not valid gzip"),
            "{}",
            error.message
        );
    }

    #[test]
    fn syntax_errors_are_400_and_shape_errors_are_422() {
        let error =
            decode_json::<serde_json::Value>(b"{\"a\":", Encoding::Identity, &small_limits())
                .unwrap_err();
        assert_eq!(error.code, INVALID_JSON);
        let error =
            decode_json::<Vec<u32>>(b"{\"a\":1}", Encoding::Identity, &small_limits()).unwrap_err();
        assert_eq!(error.code, INVALID_REQUEST);
    }

    #[test]
    fn only_json_bodies_in_identity_or_gzip_are_accepted() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            check_headers(&headers).unwrap_err().code,
            UNSUPPORTED_MEDIA_TYPE
        );
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert_eq!(check_headers(&headers).unwrap(), Encoding::Identity);
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert_eq!(check_headers(&headers).unwrap(), Encoding::Gzip);
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
        let error = check_headers(&headers).unwrap_err();
        assert!(error.message.contains("'br'"), "{}", error.message);
    }
}
