//! Key ranges and scan direction.

use std::ops::Bound;

/// Which way a scan walks its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Ascending key order.
    #[default]
    Forward,
    /// Descending key order.
    Reverse,
}

/// A range of keys, compared as unsigned bytes (lexicographically). Owns its bounds, so an
/// iterator over it borrows only the snapshot.
///
/// ```
/// use engine_api::KeyRange;
/// let r = KeyRange::prefix(b"p1/");
/// assert!(r.contains(b"p1/x"));
/// assert!(!r.contains(b"p2/x"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyRange {
    /// Lower bound.
    pub start: Bound<Vec<u8>>,
    /// Upper bound.
    pub end: Bound<Vec<u8>>,
}

impl KeyRange {
    /// Every key.
    pub fn all() -> Self {
        Self {
            start: Bound::Unbounded,
            end: Bound::Unbounded,
        }
    }

    /// A range from two bounds.
    pub fn new(start: Bound<&[u8]>, end: Bound<&[u8]>) -> Self {
        Self {
            start: start.map(<[u8]>::to_vec),
            end: end.map(<[u8]>::to_vec),
        }
    }

    /// `start..end`: from `start` included to `end` excluded.
    pub fn half_open(start: &[u8], end: &[u8]) -> Self {
        Self::new(Bound::Included(start), Bound::Excluded(end))
    }

    /// `start..=end`: both included.
    pub fn inclusive(start: &[u8], end: &[u8]) -> Self {
        Self::new(Bound::Included(start), Bound::Included(end))
    }

    /// Every key that starts with `prefix`.
    pub fn prefix(prefix: &[u8]) -> Self {
        let end = match prefix_successor(prefix) {
            Some(succ) => Bound::Excluded(succ),
            None => Bound::Unbounded,
        };
        Self {
            start: Bound::Included(prefix.to_vec()),
            end,
        }
    }

    /// True when `key` lies in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        let after_start = match &self.start {
            Bound::Included(s) => key >= s.as_slice(),
            Bound::Excluded(s) => key > s.as_slice(),
            Bound::Unbounded => true,
        };
        let before_end = match &self.end {
            Bound::Included(e) => key <= e.as_slice(),
            Bound::Excluded(e) => key < e.as_slice(),
            Bound::Unbounded => true,
        };
        after_start && before_end
    }

    /// True when no key can lie in the range (start after end, or equal with an exclusion).
    ///
    /// Engines check this before handing bounds to a backing crate, since some of them panic
    /// on an inverted range.
    pub fn is_empty(&self) -> bool {
        match (&self.start, &self.end) {
            (Bound::Unbounded, _) | (_, Bound::Unbounded) => false,
            (Bound::Included(s), Bound::Included(e)) => s > e,
            (Bound::Included(s), Bound::Excluded(e))
            | (Bound::Excluded(s), Bound::Included(e))
            | (Bound::Excluded(s), Bound::Excluded(e)) => s >= e,
        }
    }

    /// The bounds as borrowed slices, the shape most backing crates take.
    pub fn as_slices(&self) -> (Bound<&[u8]>, Bound<&[u8]>) {
        (
            self.start.as_ref().map(Vec::as_slice),
            self.end.as_ref().map(Vec::as_slice),
        )
    }
}

impl std::ops::RangeBounds<[u8]> for KeyRange {
    fn start_bound(&self) -> Bound<&[u8]> {
        self.start.as_ref().map(Vec::as_slice)
    }
    fn end_bound(&self) -> Bound<&[u8]> {
        self.end.as_ref().map(Vec::as_slice)
    }
}

/// The smallest byte string greater than every string starting with `prefix`, or `None` when
/// there is none (the prefix is empty or all `0xff`).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut succ = prefix.to_vec();
    while let Some(last) = succ.pop() {
        if last < u8::MAX {
            succ.push(last + 1);
            return Some(succ);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successor_carries_over_ff() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xff, 0xff]), None);
        assert_eq!(prefix_successor(b""), None);
    }

    #[test]
    fn emptiness() {
        assert!(KeyRange::half_open(b"b", b"b").is_empty());
        assert!(!KeyRange::inclusive(b"b", b"b").is_empty());
        assert!(KeyRange::inclusive(b"c", b"b").is_empty());
        assert!(!KeyRange::all().is_empty());
    }
}
