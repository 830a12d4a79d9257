//! Request bodies: size limits, gzip, and JSON shape limits checked before deserialising.
//!
//! Order of defences, cheapest first: the declared `Content-Length`; the bytes actually read (capped,
//! so a lying or chunked client cannot exceed [`Limits::max_body_bytes`]); decompression streamed into
//! a capped buffer (a gzip bomb stops at [`Limits::max_decoded_bytes`] + 1 bytes); a byte scan of the
//! JSON for nesting depth, string length, array length and escaped NUL characters ([`JsonShape`]), so
//! serde never allocates for a hostile shape; then typed deserialisation. Refusals name the limit that
//! was hit. The scan runs on each decompressed piece as it comes, so a gzip body of a million packages
//! is refused at the array limit after a few MB, not after decompressing all of it.
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
/// How long a report waits for one of those slots before it is answered 429: long enough that a
/// momentary excess queues (a retry costs the agent its whole Retry-After), short enough that a herd
/// is told to come back later instead of holding its connections.
pub const DEFAULT_REPORT_QUEUE_WAIT: Duration = Duration::from_millis(500);
/// Whole request, body read included: a slow client cannot hold a slot for ever.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// TLS handshake (and the first byte before it).
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Reading a request's headers (slowloris), and idle keep-alive connections.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Open connections; further clients wait in the kernel's accept queue.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Open connections from one client address: half the slots, so that one address cannot take them
/// all, while a site whose agents share one NAT address still has room.
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 512;
/// Free space kept on the database's device: writes wait (503) below it, so the storage engine never
/// meets a full disk (see `disk_space`). Twice the largest decoded report, with room for its history.
pub const DEFAULT_MIN_FREE_DISK_BYTES: u64 = 128 * 1024 * 1024;

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
    pub report_queue_wait: Duration,
    pub request_timeout: Duration,
    pub tls_handshake_timeout: Duration,
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    pub min_free_disk_bytes: u64,
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
            report_queue_wait: DEFAULT_REPORT_QUEUE_WAIT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            tls_handshake_timeout: DEFAULT_TLS_HANDSHAKE_TIMEOUT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_address: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
            min_free_disk_bytes: DEFAULT_MIN_FREE_DISK_BYTES,
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
        Encoding::Identity => {
            scan_json(bytes, limits).map_err(|error| ApiError::new(LIMIT_EXCEEDED, error))?;
            bytes
        }
        // Scanned piece by piece while decompressing.
        Encoding::Gzip => {
            decoded = gunzip_scanned(bytes, limits)?;
            &decoded
        }
    };
    serde_json::from_slice(json).map_err(|error| match error.classify() {
        serde_json::error::Category::Data => ApiError::new(
            INVALID_REQUEST,
            format!("the body is JSON but not the expected message: {error}"),
        ),
        _ => ApiError::new(INVALID_JSON, format!("the body is not valid JSON: {error}")),
    })
}

/// Decompresses into a buffer capped at `limits.max_decoded_bytes`, checking the JSON's shape as each
/// piece arrives so a hostile document stops at its first violation.
fn gunzip_scanned(bytes: &[u8], limits: &Limits) -> Result<Vec<u8>, ApiError> {
    let max = limits.max_decoded_bytes;
    let mut decoder = flate2::read::MultiGzDecoder::new(bytes);
    let mut shape = JsonShape::new(limits);
    let mut out = Vec::new();
    let mut piece = vec![0u8; GUNZIP_PIECE_BYTES];
    loop {
        let n = match decoder.read(&mut piece) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => {
                return Err(ApiError::new(
                    INVALID_JSON,
                    format!(
                        "the body is not valid gzip ({error}); compress with gzip or send plain JSON"
                    ),
                ));
            }
        };
        shape
            .feed(&piece[..n])
            .map_err(|error| ApiError::new(LIMIT_EXCEEDED, error))?;
        if out.len() + n > max {
            return Err(ApiError::new(
                PAYLOAD_TOO_LARGE,
                format!("the request body exceeds the limit of {max} bytes once decompressed"),
            ));
        }
        out.extend_from_slice(&piece[..n]);
    }
    Ok(out)
}

/// Decompressed bytes scanned at a time: small enough that a refusal comes early, large enough that
/// the per-piece overhead does not show.
const GUNZIP_PIECE_BYTES: usize = 64 * 1024;

/// Checks nesting depth, string lengths, array lengths and escaped NULs of JSON text without building
/// it. Syntax errors are left to the parser; this only guarantees the parser a bounded shape.
pub fn scan_json(json: &[u8], limits: &Limits) -> Result<(), String> {
    JsonShape::new(limits).feed(json)
}

/// The incremental form of [`scan_json`]: JSON text fed in pieces of any size (a string or an escape
/// may straddle two pieces) gives the same verdict as the whole text at once.
#[derive(Debug)]
pub struct JsonShape<'a> {
    limits: &'a Limits,
    /// One entry per open container: `Some(items)` for arrays, `None` for objects.
    stack: Vec<Option<usize>>,
    /// Inside an array, after `[` or `,`: the next value is a new item.
    awaiting_item: bool,
    /// Inside a string: its raw length so far (escapes counted as written).
    string: Option<usize>,
    escape: Escape,
}

/// Where the scanner is within a string escape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    /// After a backslash.
    Backslash,
    /// After `\u`: hex digits seen so far, and whether all of them were `0` (a NUL).
    Unicode {
        digits: u8,
        zero: bool,
    },
}

impl<'a> JsonShape<'a> {
    pub fn new(limits: &'a Limits) -> Self {
        Self {
            limits,
            stack: Vec::new(),
            awaiting_item: false,
            string: None,
            escape: Escape::None,
        }
    }

    fn string_too_long(&self) -> String {
        format!(
            "a JSON string is longer than {} bytes (the limit)",
            self.limits.max_string_bytes
        )
    }

    /// Scans the next piece of the text; the first limit broken is the error.
    pub fn feed(&mut self, piece: &[u8]) -> Result<(), String> {
        let mut at = 0;
        while at < piece.len() {
            if let (Some(length), Escape::None) = (self.string.as_mut(), self.escape) {
                // Most of a report is string content: jump to its next quote or backslash.
                let rest = &piece[at..];
                let plain = memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
                *length += plain;
                if *length > self.limits.max_string_bytes {
                    return Err(self.string_too_long());
                }
                at += plain;
                if at == piece.len() {
                    break;
                }
            }
            let byte = piece[at];
            at += 1;
            if let Some(length) = self.string.as_mut() {
                match self.escape {
                    Escape::None if byte == b'"' => {
                        self.string = None;
                        continue;
                    }
                    Escape::None if byte == b'\\' => self.escape = Escape::Backslash,
                    Escape::None => {}
                    Escape::Backslash if byte == b'u' => {
                        self.escape = Escape::Unicode {
                            digits: 0,
                            zero: true,
                        };
                    }
                    Escape::Backslash => self.escape = Escape::None,
                    Escape::Unicode { digits, zero } => {
                        let zero = zero && byte == b'0';
                        if digits + 1 < 4 {
                            self.escape = Escape::Unicode {
                                digits: digits + 1,
                                zero,
                            };
                        } else if zero {
                            // Valid JSON, but a NUL breaks C consumers, CSV exports and terminals;
                            // no honest inventory value holds one.
                            return Err(
                                "a JSON string contains a NUL character (\\u0000), which is \
                                        not accepted"
                                    .to_string(),
                            );
                        } else {
                            self.escape = Escape::None;
                        }
                    }
                }
                *length += 1;
                if *length > self.limits.max_string_bytes {
                    return Err(self.string_too_long());
                }
                continue;
            }
            let starts_value = matches!(
                byte,
                b'"' | b'{' | b'[' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n'
            );
            if starts_value && self.awaiting_item {
                self.awaiting_item = false;
                if let Some(Some(items)) = self.stack.last_mut() {
                    *items += 1;
                    if *items > self.limits.max_array_items {
                        return Err(format!(
                            "a JSON array has more than {} items (the limit)",
                            self.limits.max_array_items
                        ));
                    }
                }
            }
            match byte {
                b'"' => {
                    self.string = Some(0);
                    self.escape = Escape::None;
                }
                b'{' | b'[' => {
                    self.stack.push((byte == b'[').then_some(0));
                    self.awaiting_item = byte == b'[';
                    if self.stack.len() > self.limits.max_json_depth {
                        return Err(format!(
                            "the JSON nests deeper than {} levels (the limit)",
                            self.limits.max_json_depth
                        ));
                    }
                }
                b'}' | b']' => {
                    self.stack.pop();
                    self.awaiting_item = false;
                }
                b',' => self.awaiting_item = matches!(self.stack.last(), Some(Some(_))),
                _ => {}
            }
        }
        Ok(())
    }
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
    fn an_escaped_nul_is_refused_but_other_escapes_are_not() {
        check(r#"{"a":"x\u0000y"}"#, Err("NUL character"));
        check(r#"{"a":"\u00001"}"#, Err("NUL character"));
        check(r#"{"a":"\u0001"}"#, Ok(()));
        check(r#"{"a":"\u1000"}"#, Ok(()));
        check(r#"{"a":"\\u0000"}"#, Ok(()));
        check(r#"{"a":"\"u0000"}"#, Ok(()));
    }

    #[test]
    fn the_scan_gives_the_same_verdict_whatever_the_pieces() {
        let samples = [
            r#"{"a":[1,2,3],"b":{"c":"12345678"}}"#,
            r#"{"a":"\"\"\"[[[["}"#,
            r#"[[1,2,3],[1,2,3],[],{"k":[true,false,null]}]"#,
            r#"{"a":"x\u0000y"}"#,
            r#"{"a":"\\u0000"}"#,
            r#"[[[["x"]]]]"#,
            r#"{"a":"123456789"}"#,
            r#"{"a":"1234567\n","b":"12345678"}"#,
        ];
        let limits = small_limits();
        for sample in samples {
            let whole = scan_json(sample.as_bytes(), &limits);
            for size in 1..4 {
                let mut shape = JsonShape::new(&limits);
                let pieces = sample
                    .as_bytes()
                    .chunks(size)
                    .try_for_each(|piece| shape.feed(piece));
                assert_eq!(pieces, whole, "{sample} in pieces of {size}");
            }
        }
    }

    #[test]
    fn a_gzip_array_over_the_limit_is_refused_before_it_is_all_decompressed() {
        // 200,000 items of ~20 bytes: 4 MB decoded, above the 1 MB cap; the array limit comes first.
        let limits = Limits {
            max_array_items: 1000,
            max_decoded_bytes: 1024 * 1024,
            ..Limits::default()
        };
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(b"[").unwrap();
        for i in 0..200_000 {
            write!(encoder, "{{\"n\":\"p{i:08}\"}},").unwrap();
        }
        encoder.write_all(b"{}]").unwrap();
        let body = encoder.finish().unwrap();
        let error = decode_json::<serde_json::Value>(&body, Encoding::Gzip, &limits).unwrap_err();
        assert_eq!(error.code, LIMIT_EXCEEDED, "{}", error.message);
        assert!(
            error.message.contains("more than 1000 items"),
            "{}",
            error.message
        );
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
