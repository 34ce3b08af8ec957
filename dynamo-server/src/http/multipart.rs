//! `multipart/mixed` bodies (RFC 2046 §5.1) for a read with siblings: one part per version,
//! each with its own headers.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{BufMut, Bytes, BytesMut};

/// One part: its headers (name, value) and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Headers of the part, written in this order.
    pub headers: Vec<(&'static str, String)>,
    /// The part's body.
    pub body: Bytes,
}

/// A `multipart/mixed` body and the boundary that separates its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart {
    /// The boundary (without the leading `--`), for the `Content-Type` header.
    pub boundary: String,
    /// The encoded body.
    pub body: Bytes,
}

impl Multipart {
    /// The `Content-Type` header value announcing this body.
    pub fn content_type(&self) -> String {
        format!("multipart/mixed; boundary={}", self.boundary)
    }
}

/// Encodes `parts` with a boundary that occurs in none of their bodies nor headers.
pub fn encode(parts: &[Part]) -> Multipart {
    let boundary = choose_boundary(parts);
    let delimiter = format!("--{boundary}");
    let size: usize = parts
        .iter()
        .map(|p| {
            p.body.len()
                + delimiter.len()
                + 8
                + p.headers
                    .iter()
                    .map(|(n, v)| n.len() + v.len() + 4)
                    .sum::<usize>()
        })
        .sum();
    let mut out = BytesMut::with_capacity(size + delimiter.len() + 4);
    for p in parts {
        out.put_slice(delimiter.as_bytes());
        out.put_slice(b"\r\n");
        for (name, value) in &p.headers {
            out.put_slice(name.as_bytes());
            out.put_slice(b": ");
            out.put_slice(value.as_bytes());
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"\r\n");
        out.put_slice(&p.body);
        out.put_slice(b"\r\n");
    }
    out.put_slice(delimiter.as_bytes());
    out.put_slice(b"--\r\n");
    Multipart {
        boundary,
        body: out.freeze(),
    }
}

/// A boundary found in no part. Candidates differ per call (a counter mixed into the bits),
/// so a value crafted to contain one candidate is simply skipped past.
fn choose_boundary(parts: &[Part]) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    choose_boundary_from(parts, &NEXT)
}

fn choose_boundary_from(parts: &[Part], next: &AtomicU64) -> String {
    loop {
        let n = next.fetch_add(1, Ordering::Relaxed);
        let candidate = format!("dynamo-siblings-{:016x}", mix(n));
        let clashes = parts.iter().any(|p| {
            contains(&p.body, candidate.as_bytes())
                || p.headers.iter().any(|(_, v)| v.contains(&candidate))
        });
        if !clashes {
            return candidate;
        }
    }
}

/// A 64-bit finalizer (splitmix64's), so that consecutive counters give unrelated boundaries.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_delimited() {
        let parts = vec![
            Part {
                headers: vec![("Content-Type", "text/plain".into())],
                body: Bytes::from_static(b"one"),
            },
            Part {
                headers: vec![
                    ("Content-Type", String::new()),
                    ("X-Dynamo-Deleted", "true".into()),
                ],
                body: Bytes::new(),
            },
        ];
        let m = encode(&parts);
        let b = &m.boundary;
        let expected = format!(
            "--{b}\r\nContent-Type: text/plain\r\n\r\none\r\n\
             --{b}\r\nContent-Type: \r\nX-Dynamo-Deleted: true\r\n\r\n\r\n--{b}--\r\n"
        );
        assert_eq!(m.body, Bytes::from(expected));
        assert_eq!(m.content_type(), format!("multipart/mixed; boundary={b}"));
    }

    #[test]
    fn boundary_avoids_the_bodies() {
        let counter = AtomicU64::new(5);
        let first = choose_boundary_from(&[], &counter);
        let counter = AtomicU64::new(5);
        let body = Bytes::from(format!("x{first}y"));
        let parts = [Part {
            headers: vec![],
            body: body.clone(),
        }];
        let chosen = choose_boundary_from(&parts, &counter);
        assert_ne!(chosen, first);
        assert!(!contains(&body, chosen.as_bytes()));
        assert_eq!(counter.load(Ordering::Relaxed), 7);
    }
}
