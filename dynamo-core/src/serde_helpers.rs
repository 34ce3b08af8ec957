//! Serde forms for the types that cross the network but have no serde form of their own, for
//! `#[serde(with = "...")]` on message fields.
//!
//! - [`bytes_serde`]: [`Bytes`](bytes::Bytes) as a byte string;
//! - [`record_result_serde`]: a replica's answer, `Result<Option<Bytes>, String>`, with the
//!   bytes as a byte string;
//! - [`context_serde`]: a [`Context`](crate::version::Context) as its opaque token;
//! - [`content_type_serde`]: a [`ContentType`](crate::version::ContentType) as its string;
//! - [`mode_serde`]: a [`VersioningMode`](crate::version::VersioningMode) as `"dvv"`,
//!   `"vclock"` or `"lww"`.
//!
//! A leaf: it depends on [`crate::version`] alone, so that every module defining messages
//! ([`crate::proto`], [`crate::antientropy`], [`crate::transfer`], [`crate::membership`]) can
//! use it without depending on another.

/// Serde for [`Bytes`](bytes::Bytes) as a byte string (compact in binary formats).
pub mod bytes_serde {
    use bytes::Bytes;
    use serde::de::{Error, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    /// Serializes as bytes.
    ///
    /// # Errors
    /// The serializer's.
    pub fn serialize<S: Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(b)
    }

    /// Deserializes from bytes or a sequence of `u8` (as self-describing formats give).
    ///
    /// # Errors
    /// When the input is neither.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        d.deserialize_byte_buf(BytesVisitor)
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Bytes;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("bytes")
        }

        fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Bytes, E> {
            Ok(Bytes::copy_from_slice(v))
        }

        fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
            Ok(Bytes::from(v))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(Bytes::from(out))
        }
    }
}

/// Serde for `Result<Option<Bytes>, String>` with the bytes as a byte string.
pub mod record_result_serde {
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Wrapped(#[serde(with = "super::bytes_serde")] Bytes);

    /// Serializes as `Result<Option<bytes>, String>`.
    ///
    /// # Errors
    /// The serializer's.
    pub fn serialize<S: Serializer>(
        r: &Result<Option<Bytes>, String>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let wrapped: Result<Option<Wrapped>, &String> = match r {
            Ok(b) => Ok(b.clone().map(Wrapped)),
            Err(e) => Err(e),
        };
        wrapped.serialize(s)
    }

    /// Deserializes what [`serialize`] writes.
    ///
    /// # Errors
    /// When the input is not of that shape.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Result<Option<Bytes>, String>, D::Error> {
        let wrapped = Result::<Option<Wrapped>, String>::deserialize(d)?;
        Ok(wrapped.map(|o| o.map(|w| w.0)))
    }
}

/// Serde for [`Context`](crate::version::Context) as its opaque token
/// ([`Context::to_token`](crate::version::Context::to_token)).
pub mod context_serde {
    use serde::de::Error as _;
    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::version::Context;

    /// Serializes as the token string.
    ///
    /// # Errors
    /// When the context is too large for a token.
    pub fn serialize<S: Serializer>(c: &Context, s: S) -> Result<S::Ok, S::Error> {
        let token = c.to_token().map_err(S::Error::custom)?;
        s.serialize_str(&token)
    }

    /// Deserializes from a token string.
    ///
    /// # Errors
    /// When the token is malformed.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Context, D::Error> {
        let token = String::deserialize(d)?;
        Context::from_token(&token).map_err(D::Error::custom)
    }
}

/// Serde for [`ContentType`](crate::version::ContentType) as its string.
pub mod content_type_serde {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::version::ContentType;

    /// Serializes as the string.
    ///
    /// # Errors
    /// The serializer's.
    pub fn serialize<S: Serializer>(c: &ContentType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(c.as_str())
    }

    /// Deserializes from a string, checking it.
    ///
    /// # Errors
    /// When the string is not a valid content type.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ContentType, D::Error> {
        let s = String::deserialize(d)?;
        ContentType::new(s).map_err(D::Error::custom)
    }
}

/// Serde for [`VersioningMode`](crate::version::VersioningMode) as `"dvv"`, `"vclock"` or `"lww"`.
pub mod mode_serde {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::version::VersioningMode;

    /// The name of a mode.
    pub fn name(mode: VersioningMode) -> &'static str {
        match mode {
            VersioningMode::Dvv => "dvv",
            VersioningMode::VClock => "vclock",
            VersioningMode::Lww => "lww",
        }
    }

    /// The mode of a name (`"dvv"`, `"vclock"`, `"lww"`), if any.
    pub fn parse(name: &str) -> Option<VersioningMode> {
        match name {
            "dvv" => Some(VersioningMode::Dvv),
            "vclock" => Some(VersioningMode::VClock),
            "lww" => Some(VersioningMode::Lww),
            _ => None,
        }
    }

    /// Serializes as the name.
    ///
    /// # Errors
    /// The serializer's.
    pub fn serialize<S: Serializer>(m: &VersioningMode, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(name(*m))
    }

    /// Deserializes from a name.
    ///
    /// # Errors
    /// For an unknown name.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<VersioningMode, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).ok_or_else(|| D::Error::custom(format!("unknown versioning mode {s:?}")))
    }
}
