//! The credential never comes back: a provider that echoes what it was sent (a debugging endpoint,
//! an error page quoting the request) has the credential cut out of its answer as it streams by.

use bytes::{Bytes, BytesMut};

/// What replaces the credential.
const MASK: &[u8] = b"[REDACTED]";

/// Shorter needles would mangle ordinary text; no credential is this short.
const MIN_NEEDLE: usize = 8;

/// Cuts every occurrence of the needles out of a byte stream delivered in chunks: an occurrence
/// split across chunks is found too, because the last `longest - 1` bytes are held back until
/// the next chunk (or the end) arrives.
pub(crate) struct Redactor {
    needles: Vec<Vec<u8>>,
    held: BytesMut,
    longest: usize,
}

impl Redactor {
    pub(crate) fn new(needles: impl IntoIterator<Item = Vec<u8>>) -> Self {
        let needles: Vec<Vec<u8>> = needles
            .into_iter()
            .filter(|needle| needle.len() >= MIN_NEEDLE)
            .collect();
        let longest = needles.iter().map(Vec::len).max().unwrap_or(0);
        Self {
            needles,
            held: BytesMut::new(),
            longest,
        }
    }

    /// The next part of the output, given the next chunk of the input.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Bytes {
        if self.longest == 0 {
            return Bytes::copy_from_slice(chunk);
        }
        self.held.extend_from_slice(chunk);
        let masked = self.mask(&self.held);
        let keep = (self.longest - 1).min(masked.len());
        let ready = masked.len() - keep;
        self.held = BytesMut::from(&masked[ready..]);
        Bytes::copy_from_slice(&masked[..ready])
    }

    /// What is still held back, once the input has ended.
    pub(crate) fn finish(&mut self) -> Bytes {
        let rest = self.mask(&self.held);
        self.held.clear();
        Bytes::from(rest)
    }

    fn mask(&self, input: &[u8]) -> Vec<u8> {
        let mut output = input.to_vec();
        for needle in &self.needles {
            output = replace(&output, needle);
        }
        output
    }
}

fn replace(haystack: &[u8], needle: &[u8]) -> Vec<u8> {
    let mut output = Vec::with_capacity(haystack.len());
    let mut at = 0;
    while at < haystack.len() {
        if haystack[at..].starts_with(needle) {
            output.extend_from_slice(MASK);
            at += needle.len();
        } else {
            output.push(haystack[at]);
            at += 1;
        }
    }
    output
}
