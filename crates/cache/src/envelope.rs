//! The stored entry: what a cache tier holds for one key.
//!
//! An [`Entry`] carries the response (status, content type, extra headers, body), a strong ETag computed once
//! at store time from the uncompressed body, timing (`stored_at`, `ttl`, `grace`, the
//! computation time used by early refresh) and the tag generations the value was computed
//! under. Bodies at or above a size threshold are stored zstd-compressed when that is smaller,
//! so they can be sent as-is to clients that accept `zstd`.
//!
//! The byte format is versioned and fully validated on decode: a truncated, foreign or
//! corrupted value is a [`DecodeError`] (which callers treat as a miss), never a panic.
//!
//! ```
//! use trigapi_cache::internals::{Entry, EntryMeta};
//! let meta = EntryMeta { status: 200, content_type: "application/json".into(), headers: vec![], ttl_secs: 60,
//!                        grace_secs: 30, compute_micros: 1_500, generations: vec![7, 3] };
//! let body = br#"{"hello":"world"}"#;
//! let entry = Entry::new(meta, body, 1_700_000_000_000, 1024);
//! let bytes = entry.encode();
//! let back = Entry::decode(&bytes).expect("round trip");
//! assert_eq!(back.identity_body().expect("body").as_ref(), body);
//! assert_eq!(back.etag(), entry.etag());
//! ```

use std::borrow::Cow;

use bytes::Bytes;
use xxhash_rust::xxh3::xxh3_128;

/// Version 2 added the extra headers; an entry of version 1 is foreign (a miss).
const MAGIC: &[u8; 4] = b"TGC\x02";
const MAX_GENERATIONS: usize = 16;
/// At most this many extra headers, each name and value at most `u16::MAX` bytes.
const MAX_HEADERS: usize = 32;

/// How the stored body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoding {
    /// The body as the origin produced it.
    Identity,
    /// zstd (level 1); send as `Content-Encoding: zstd` or decompress.
    Zstd,
}

/// Everything about an entry except its body and store time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryMeta {
    /// HTTP status of the cached response.
    pub status: u16,
    /// `Content-Type` of the cached response.
    pub content_type: String,
    /// Further headers sent with it, `(name, value)` (at most 32 are kept).
    pub headers: Vec<(String, String)>,
    /// Seconds the entry is fresh.
    pub ttl_secs: u32,
    /// Seconds past the TTL during which it may still be served stale (time expiry only).
    pub grace_secs: u32,
    /// How long the origin took to compute it (drives early refresh).
    pub compute_micros: u32,
    /// Generations of the entry's tags, read before the origin ran.
    pub generations: Vec<u64>,
}

/// One cached response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    meta: EntryMeta,
    stored_at_millis: u64,
    etag: String,
    encoding: BodyEncoding,
    body: Bytes,
}

/// Why stored bytes could not be read back as an [`Entry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Not written by this format (or by another version of it).
    Foreign,
    /// Shorter than its own headers say.
    Truncated,
    /// A field holds an impossible value.
    Invalid(&'static str),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Foreign => f.write_str("not a cache entry of this version"),
            DecodeError::Truncated => f.write_str("truncated cache entry"),
            DecodeError::Invalid(what) => write!(f, "invalid cache entry: {what}"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl Entry {
    /// Build an entry stored at `now_millis` (Unix ms). Bodies of at least `compress_at` bytes
    /// are zstd-compressed when that makes them smaller.
    pub fn new(mut meta: EntryMeta, body: &[u8], now_millis: u64, compress_at: usize) -> Self {
        meta.generations.truncate(MAX_GENERATIONS);
        meta.headers.truncate(MAX_HEADERS);
        meta.headers.retain(|(n, v)| n.len() <= u16::MAX as usize && v.len() <= u16::MAX as usize);
        let etag = format!("\"{:032x}\"", xxh3_128(body));
        let compressed = (body.len() >= compress_at)
            .then(|| zstd::bulk::compress(body, 1).ok())
            .flatten()
            .filter(|c| c.len() < body.len());
        let (encoding, body) = match compressed {
            Some(c) => (BodyEncoding::Zstd, c),
            None => (BodyEncoding::Identity, body.to_vec()),
        };
        let body = Bytes::from(body);
        Self { meta, stored_at_millis: now_millis, etag, encoding, body }
    }

    /// Metadata (status, content type, TTL, grace, generations).
    pub fn meta(&self) -> &EntryMeta {
        &self.meta
    }

    /// Strong ETag of the uncompressed body, quoted (`"…"`).
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// When it was stored (Unix ms).
    pub fn stored_at_millis(&self) -> u64 {
        self.stored_at_millis
    }

    /// The body as stored, and how it is encoded (a cheap reference-counted handle).
    pub fn stored_body(&self) -> (BodyEncoding, &Bytes) {
        (self.encoding, &self.body)
    }

    /// True when the stored body hashes to the entry's ETag: catches a damaged body that still
    /// decodes (a flipped byte in an identity body, or a zstd stream that inflates to garbage).
    pub fn verify(&self) -> Result<Bytes, DecodeError> {
        let identity = match self.encoding {
            BodyEncoding::Identity => self.body.clone(),
            BodyEncoding::Zstd => Bytes::from(self.identity_body()?.into_owned()),
        };
        if format!("\"{:032x}\"", xxh3_128(&identity)) == self.etag {
            Ok(identity)
        } else {
            Err(DecodeError::Invalid("body does not match its etag"))
        }
    }

    /// The uncompressed body.
    pub fn identity_body(&self) -> Result<Cow<'_, [u8]>, DecodeError> {
        match self.encoding {
            BodyEncoding::Identity => Ok(Cow::Borrowed(&self.body)),
            BodyEncoding::Zstd => zstd::stream::decode_all(self.body.as_ref())
                .map(Cow::Owned)
                .map_err(|_| DecodeError::Invalid("zstd body")),
        }
    }

    /// Bytes this entry occupies, for byte-bounded tiers.
    pub fn weight(&self) -> usize {
        let headers: usize = self.meta.headers.iter().map(|(n, v)| n.len() + v.len() + 16).sum();
        self.body.len()
            + self.meta.content_type.len()
            + headers
            + self.etag.len()
            + 8 * self.meta.generations.len()
            + 64
    }

    /// Serialise for a byte-oriented tier (Redis).
    pub fn encode(&self) -> Vec<u8> {
        let ct = self.meta.content_type.as_bytes();
        let mut out = Vec::with_capacity(self.body.len() + ct.len() + self.etag.len() + 64);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.meta.status.to_le_bytes());
        out.extend_from_slice(&self.stored_at_millis.to_le_bytes());
        out.extend_from_slice(&self.meta.ttl_secs.to_le_bytes());
        out.extend_from_slice(&self.meta.grace_secs.to_le_bytes());
        out.extend_from_slice(&self.meta.compute_micros.to_le_bytes());
        out.push(match self.encoding {
            BodyEncoding::Identity => 0,
            BodyEncoding::Zstd => 1,
        });
        out.push(self.meta.generations.len() as u8);
        for g in &self.meta.generations {
            out.extend_from_slice(&g.to_le_bytes());
        }
        out.extend_from_slice(&(ct.len().min(u16::MAX as usize) as u16).to_le_bytes());
        out.extend_from_slice(&ct[..ct.len().min(u16::MAX as usize)]);
        out.push(self.meta.headers.len() as u8);
        for (name, value) in &self.meta.headers {
            for part in [name, value] {
                out.extend_from_slice(&(part.len() as u16).to_le_bytes());
                out.extend_from_slice(part.as_bytes());
            }
        }
        out.push(self.etag.len() as u8);
        out.extend_from_slice(self.etag.as_bytes());
        out.extend_from_slice(&(self.body.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    /// Parse bytes written by [`Entry::encode`]; anything else is an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader(bytes);
        if r.take(4).map_err(|_| DecodeError::Foreign)? != MAGIC {
            return Err(DecodeError::Foreign);
        }
        let status = u16::from_le_bytes(r.array()?);
        if !(100..=599).contains(&status) {
            return Err(DecodeError::Invalid("status"));
        }
        let stored_at_millis = u64::from_le_bytes(r.array()?);
        let ttl_secs = u32::from_le_bytes(r.array()?);
        let grace_secs = u32::from_le_bytes(r.array()?);
        let compute_micros = u32::from_le_bytes(r.array()?);
        let encoding = match r.byte()? {
            0 => BodyEncoding::Identity,
            1 => BodyEncoding::Zstd,
            _ => return Err(DecodeError::Invalid("body encoding")),
        };
        let n = r.byte()? as usize;
        if n > MAX_GENERATIONS {
            return Err(DecodeError::Invalid("generation count"));
        }
        let generations = (0..n).map(|_| r.array().map(u64::from_le_bytes)).collect::<Result<Vec<_>, _>>()?;
        let ct_len = u16::from_le_bytes(r.array()?) as usize;
        let content_type =
            std::str::from_utf8(r.take(ct_len)?).map_err(|_| DecodeError::Invalid("content type"))?.to_owned();
        let n = r.byte()? as usize;
        if n > MAX_HEADERS {
            return Err(DecodeError::Invalid("header count"));
        }
        let mut headers = Vec::with_capacity(n);
        for _ in 0..n {
            let mut part = || {
                let len = u16::from_le_bytes(r.array()?) as usize;
                let text = std::str::from_utf8(r.take(len)?).map_err(|_| DecodeError::Invalid("header"))?;
                Ok::<_, DecodeError>(text.to_owned())
            };
            let name = part()?;
            headers.push((name, part()?));
        }
        let etag_len = r.byte()? as usize;
        let etag = std::str::from_utf8(r.take(etag_len)?).map_err(|_| DecodeError::Invalid("etag"))?.to_owned();
        let body_len = u32::from_le_bytes(r.array()?) as usize;
        let body = Bytes::copy_from_slice(r.take(body_len)?);
        if !r.0.is_empty() {
            return Err(DecodeError::Invalid("trailing bytes"));
        }
        let meta = EntryMeta { status, content_type, headers, ttl_secs, grace_secs, compute_micros, generations };
        Ok(Self { meta, stored_at_millis, etag, encoding, body })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> EntryMeta {
        EntryMeta {
            status: 200,
            content_type: "application/json".into(),
            headers: vec![("link".into(), "</next>; rel=next".into())],
            ttl_secs: 3600,
            grace_secs: 300,
            compute_micros: 2_000,
            generations: vec![1, 2, 3],
        }
    }

    #[test]
    fn large_bodies_are_compressed_and_round_trip() {
        let body = br#"{"items":[{"id":1,"name":"Fetlar"}]}"#.repeat(100);
        let e = Entry::new(meta(), &body, 42, 1024);
        assert_eq!(e.stored_body().0, BodyEncoding::Zstd);
        assert!(e.stored_body().1.len() < body.len() / 5);
        let back = Entry::decode(&e.encode()).expect("decodes");
        assert_eq!(back, e);
        assert_eq!(back.identity_body().expect("inflates").as_ref(), body.as_slice());
        assert_eq!(back.stored_at_millis(), 42);
        assert_eq!(back.meta().generations, [1, 2, 3]);
        assert_eq!(back.meta().headers, [("link".to_owned(), "</next>; rel=next".to_owned())]);
    }

    #[test]
    fn small_or_incompressible_bodies_stay_identity() {
        let e = Entry::new(meta(), b"{}", 0, 1024);
        assert_eq!(e.stored_body(), (BodyEncoding::Identity, &Bytes::from_static(b"{}")));
        let noise: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let e = Entry::new(meta(), &noise, 0, 1024);
        assert!(e.stored_body().1.len() <= noise.len());
    }

    #[test]
    fn the_etag_depends_on_the_body_only() {
        let a = Entry::new(meta(), b"same", 1, 0);
        let b = Entry::new(EntryMeta { ttl_secs: 5, ..meta() }, b"same", 2, 1024);
        let c = Entry::new(meta(), b"different", 1, 0);
        assert_eq!(a.etag(), b.etag());
        assert_ne!(a.etag(), c.etag());
        assert!(a.etag().starts_with('"') && a.etag().len() == 34);
    }

    #[test]
    fn corrupt_bytes_are_errors_not_panics() {
        let good = Entry::new(meta(), &b"x".repeat(2000), 7, 1024).encode();
        assert_eq!(Entry::decode(b"{\"value\":1}"), Err(DecodeError::Foreign));
        assert_eq!(Entry::decode(&[]), Err(DecodeError::Foreign));
        for cut in 4..good.len() {
            assert!(Entry::decode(&good[..cut]).is_err(), "truncated at {cut}");
        }
        let mut extra = good.clone();
        extra.push(0);
        assert_eq!(Entry::decode(&extra), Err(DecodeError::Invalid("trailing bytes")));
        // Flip every byte in turn: decoding may fail or succeed, but never panics, and a
        // damaged compressed body is caught when it is inflated.
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0xA5;
            if let Ok(e) = Entry::decode(&bad) {
                let _ = e.identity_body();
            }
        }
    }
}
