//! Request ids: `X-Request-Id`, the client's own or a new one, echoed on every response.

use axum::http::{HeaderName, HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};

/// The header.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids in UUID v4 form from a fast thread-local generator: unique enough to follow a
/// request through the logs, without the system call per request a cryptographic UUID costs
/// (measurable on cache hits, which do little else).
#[derive(Clone, Copy)]
pub(crate) struct FastRequestId;

impl MakeRequestId for FastRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        Some(RequestId::new(new_request_id()))
    }
}

/// A new request id (see [`FastRequestId`]).
pub(crate) fn new_request_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Version 4 in bits 76-79, variant 0b10 in bits 62-63.
    let v = (fastrand::u128(..) & !(0xF << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let mut id = [0u8; 36];
    let mut at = 0;
    for nibble in 0..32 {
        if matches!(nibble, 8 | 12 | 16 | 20) {
            id[at] = b'-';
            at += 1;
        }
        id[at] = HEX[((v >> (124 - 4 * nibble)) & 0xF) as usize];
        at += 1;
    }
    // Hex digits and dashes are always a valid header value.
    HeaderValue::from_bytes(&id).unwrap_or_else(|_| HeaderValue::from_static("-"))
}
