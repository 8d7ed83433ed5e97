//! An entry ready to serve: the decoded [`Entry`] plus its body in every encoding a client may
//! ask for, so a hit copies no bytes and compresses nothing twice.

use std::io::Write;
use std::sync::OnceLock;

use bytes::Bytes;
use http::HeaderValue;

use crate::envelope::{BodyEncoding, DecodeError, Entry};

pub(crate) struct Stored {
    pub(crate) entry: Entry,
    pub(crate) identity: Bytes,
    /// Header values made once, not per hit.
    pub(crate) content_type: Option<HeaderValue>,
    pub(crate) etag: Option<HeaderValue>,
    /// `X-Cache-Key`: the key it is stored under.
    pub(crate) key: Option<HeaderValue>,
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
        let etag = HeaderValue::from_str(entry.etag()).ok();
        let key = HeaderValue::from_str(key).ok();
        Self { entry, identity, content_type, etag, key, gzip: OnceLock::new() }
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
