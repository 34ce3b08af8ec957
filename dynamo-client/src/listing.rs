//! Listing a bucket's keys page by page, and the buckets of a cluster.
//!
//! A node answers `GET /buckets/{bucket}/keys?limit=N&continuation=T` with up to `N` keys
//! and an opaque continuation token; [`Client::list_keys_page`] makes one such call and
//! [`Client::list_keys`] walks every page ([`KeyPages`]). Keys come partition by partition,
//! in a stable order; what a listing guarantees under concurrent writes is in the README
//! ("Listing keys").

use bytes::Bytes;
use reqwest::Method;
use serde::Deserialize;

use crate::client::{Client, check_name, encode};
use crate::error::ClientError;

/// One page of a bucket's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPage {
    /// The keys, in listing order.
    pub keys: Vec<Bytes>,
    /// The token that asks for the next page; `None` on the last page.
    pub continuation: Option<String>,
}

#[derive(Deserialize)]
struct PageJson {
    keys: Vec<String>,
    continuation: Option<String>,
}

#[derive(Deserialize)]
struct BucketsJson {
    buckets: Vec<String>,
}

/// Decodes a percent-encoded name of a listing.
fn decode(text: &str, status: u16) -> Result<Bytes, ClientError> {
    let bad = || ClientError::Decode {
        status,
        detail: format!("a listed name is not percent-encoded: {text:?}"),
    };
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(Bytes::from(out))
}

impl Client {
    /// One page of the keys of `bucket`: at most `limit` keys (default 1,000, at most
    /// 10,000), starting where `continuation` (the token of the previous page) says, or at
    /// the beginning. Keys whose versions are all tombstones are not listed.
    ///
    /// # Errors
    /// [`ClientError::InvalidName`] for a bucket a URL cannot carry; `400` (a bad limit or
    /// token), `401`/`403` (reading the bucket needs its read permission), `503` (no live
    /// replica of some partition) as the node's errors; transport or decoding errors.
    pub async fn list_keys_page(
        &self,
        bucket: impl AsRef<[u8]>,
        limit: Option<u32>,
        continuation: Option<&str>,
    ) -> Result<KeyPage, ClientError> {
        let bucket = bucket.as_ref();
        check_name("bucket", bucket)?;
        let mut url = format!("{}/buckets/{}/keys", self.base_url(), encode(bucket));
        let mut sep = '?';
        if let Some(limit) = limit {
            url.push_str(&format!("{sep}limit={limit}"));
            sep = '&';
        }
        if let Some(token) = continuation {
            url.push_str(&format!("{sep}continuation={}", encode(token.as_bytes())));
        }
        let page: PageJson = self.json_call(Method::GET, url, None).await?;
        let keys = page
            .keys
            .iter()
            .map(|k| decode(k, 200))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(KeyPage {
            keys,
            continuation: page.continuation,
        })
    }

    /// Every page of the keys of `bucket`, `limit` keys at most per page: call
    /// [`KeyPages::next_page`] until it answers `None`.
    ///
    /// ```no_run
    /// # async fn demo(client: dynamo_client::Client) -> Result<(), dynamo_client::ClientError> {
    /// let mut pages = client.list_keys("cart", Some(500));
    /// while let Some(page) = pages.next_page().await {
    ///     for key in page?.keys {
    ///         println!("{}", String::from_utf8_lossy(&key));
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn list_keys(&self, bucket: impl AsRef<[u8]>, limit: Option<u32>) -> KeyPages {
        KeyPages {
            client: self.clone(),
            bucket: Bytes::copy_from_slice(bucket.as_ref()),
            limit,
            next: None,
            done: false,
        }
    }

    /// The buckets that have keys (or tombstones not reaped yet) or properties of their own,
    /// among those the access key may read.
    ///
    /// # Errors
    /// `401` without a valid key; transport or decoding errors.
    pub async fn buckets(&self) -> Result<Vec<Bytes>, ClientError> {
        let url = format!("{}/buckets", self.base_url());
        let answer: BucketsJson = self.json_call(Method::GET, url, None).await?;
        answer.buckets.iter().map(|b| decode(b, 200)).collect()
    }
}

/// The pages of a listing, one call each: see [`Client::list_keys`].
#[derive(Debug, Clone)]
pub struct KeyPages {
    client: Client,
    bucket: Bytes,
    limit: Option<u32>,
    next: Option<String>,
    done: bool,
}

impl KeyPages {
    /// The next page; `None` after the last one, or after an error (which ends the listing:
    /// resume it with [`KeyPages::continuation`] and [`Client::list_keys_page`]).
    pub async fn next_page(&mut self) -> Option<Result<KeyPage, ClientError>> {
        if self.done {
            return None;
        }
        let page = self
            .client
            .list_keys_page(&self.bucket, self.limit, self.next.as_deref())
            .await;
        match &page {
            Ok(p) => {
                self.next.clone_from(&p.continuation);
                self.done = p.continuation.is_none();
            }
            Err(_) => self.done = true,
        }
        Some(page)
    }

    /// The token of the next page, `None` before the first page and after the last.
    pub fn continuation(&self) -> Option<&str> {
        self.next.as_deref()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn listed_names_decode() {
        assert_eq!(
            decode("a-b_c.d~e", 200).unwrap(),
            Bytes::from_static(b"a-b_c.d~e")
        );
        assert_eq!(
            decode("a%20b%FF", 200).unwrap(),
            Bytes::from_static(b"a b\xff")
        );
        for bad in ["%", "%4", "%zz", "%\u{e9}x"] {
            assert!(decode(bad, 200).is_err(), "{bad}");
        }
    }
}
