//! An entry ready to serve: the decoded [`Entry`] plus its body in every encoding a client may
//! ask for, so a hit copies no bytes and compresses nothing twice.

use std::io::Write;
use std::sync::OnceLock;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};

use crate::envelope::{BodyEncoding, DecodeError, Entry};

pub(crate) struct Stored {
    pub(crate) entry: Entry,
    pub(crate) identity: Bytes,
    /// Header values made once, not per hit.
    pub(crate) content_type: Option<HeaderValue>,
    /// The strong ETag of each representation (RFC 9110 §8.8.3: a strong validator names one
    /// representation, so the gzip and zstd bodies carry tags of their own, `"…-gzip"`).
    pub(crate) etag: Option<HeaderValue>,
    pub(crate) etag_gzip: Option<HeaderValue>,
    pub(crate) etag_zstd: Option<HeaderValue>,
    /// `X-Cache-Key`: the key it is stored under.
    pub(crate) key: Option<HeaderValue>,
    /// The origin's own headers (names and values that do not parse are dropped).
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    /// Made on the first gzip request, then kept with the entry.
    gzip: OnceLock<Option<Bytes>>,
}

impl Stored {
    /// Wrap an entry, checking that its body matches its ETag.
    pub(crate) fn new(entry: Entry, key: &str) -> Result<Self, DecodeError> {
        let identity = entry.verify()?;
        Ok(Self::fresh(entry, identity, key))
    }

    /// A freshly built entry (its identity body is at hand, no need to inflate it).
    pub(crate) fn fresh(entry: Entry, identity: Bytes, key: &str) -> Self {
        let content_type = HeaderValue::from_str(&entry.meta().content_type).ok();
        let tag = |coding: Option<&str>| HeaderValue::from_str(&encoded_etag(entry.etag(), coding)).ok();
        let (etag, etag_gzip, etag_zstd) = (tag(None), tag(Some("gzip")), tag(Some("zstd")));
        let key = HeaderValue::from_str(key).ok();
        let headers = entry
            .meta()
            .headers
            .iter()
            .filter_map(|(n, v)| Some((HeaderName::try_from(n.as_str()).ok()?, HeaderValue::from_str(v).ok()?)))
            .collect();
        Self { entry, identity, content_type, etag, etag_gzip, etag_zstd, key, headers, gzip: OnceLock::new() }
    }

    /// The ETag header of the body sent with `coding` (`None`: identity).
    pub(crate) fn etag_for(&self, coding: Option<&str>) -> Option<&HeaderValue> {
        match coding {
            Some("gzip") => self.etag_gzip.as_ref(),
            Some("zstd") => self.etag_zstd.as_ref(),
            _ => self.etag.as_ref(),
        }
    }

    pub(crate) fn zstd(&self) -> Option<&Bytes> {
        match self.entry.stored_body() {
            (BodyEncoding::Zstd, body) => Some(body),
            (BodyEncoding::Identity, _) => None,
        }
    }

    /// The gzip form, when the body was worth compressing (it is stored compressed).
    pub(crate) fn gzip(&self) -> Option<&Bytes> {
        self.zstd()?;
        self.gzip
            .get_or_init(|| {
                let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                enc.write_all(&self.identity).ok()?;
                enc.finish().ok().map(Bytes::from)
            })
            .as_ref()
    }

    /// Bytes held: the identity body, the stored body if compressed, and room for a gzip copy.
    pub(crate) fn weight(&self) -> usize {
        let compressed = self.zstd().map_or(0, Bytes::len);
        self.identity.len() + 2 * compressed + self.entry.weight() - self.entry.stored_body().1.len()
    }
}

/// The ETag of the body sent with `coding`: the identity tag `"h"` becomes `"h-gzip"`.
pub(crate) fn encoded_etag(identity: &str, coding: Option<&str>) -> String {
    match (coding, identity.strip_suffix('"')) {
        (Some(coding), Some(open)) => format!("{open}-{coding}\""),
        _ => identity.to_owned(),
    }
}

/// Whether `tag` is the ETag of some representation of the body whose identity tag is
/// `identity` (`"h"`, `"h-gzip"`, `"h-zstd"`): `If-None-Match` with the tag of one encoding
/// matches the others, since they are one resource. Allocates nothing (it runs on every
/// conditional hit).
pub(crate) fn names_body(tag: &str, identity: &str) -> bool {
    tag == identity
        || identity
            .strip_suffix('"')
            .and_then(|open| tag.strip_prefix(open))
            .is_some_and(|coding| coding == "-gzip\"" || coding == "-zstd\"")
}
