//! The client-facing context token: round trips, and clean typed errors for everything
//! else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod version_support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dynamo_core::Timestamp;
use dynamo_core::record::{DecodeError, EncodeError, MAX_TOKEN_LEN, TokenError};
use dynamo_core::version::{Context, Dot};
use proptest::prelude::*;
use version_support::actor_e;

fn context() -> impl Strategy<Value = Context> {
    prop::collection::vec((0usize..5, 0u64..3, 1u64..12, 0u64..1_000), 0..24).prop_map(|dots| {
        let mut c = Context::new();
        for (n, e, counter, t) in dots {
            c.add(Dot::new(actor_e(n, e), counter), Timestamp(t));
        }
        c
    })
}

/// The same content with a correct checksum around any body: what a forger can produce.
fn sealed_token(body: &[u8]) -> String {
    let mut v = vec![1u8];
    v.extend_from_slice(body);
    let crc = crc32fast::hash(&v);
    v.extend_from_slice(&crc.to_be_bytes());
    URL_SAFE_NO_PAD.encode(v)
}

proptest! {
    #[test]
    fn round_trip(ctx in context()) {
        let token = ctx.to_token().unwrap();
        prop_assert!(token.len() <= MAX_TOKEN_LEN);
        prop_assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        prop_assert_eq!(Context::from_token(&token).unwrap(), ctx);
    }

    #[test]
    fn truncated_tokens_are_rejected(ctx in context()) {
        let token = ctx.to_token().unwrap();
        for cut in 0..token.len() {
            prop_assert!(Context::from_token(&token[..cut]).is_err(), "prefix {} accepted", cut);
        }
    }

    #[test]
    fn bit_flips_are_caught_by_the_checksum(ctx in context(), pick in any::<usize>()) {
        let bytes = URL_SAFE_NO_PAD.decode(ctx.to_token().unwrap()).unwrap();
        let bit = pick % (bytes.len() * 8);
        let mut b = bytes.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        let err = Context::from_token(&URL_SAFE_NO_PAD.encode(&b)).unwrap_err();
        if bit < 8 {
            prop_assert!(matches!(err, TokenError::Content(DecodeError::UnknownVersion(_))));
        } else {
            prop_assert!(matches!(err, TokenError::Content(DecodeError::Checksum { .. })), "{:?}", err);
        }
    }

    #[test]
    fn changed_characters_are_rejected(ctx in context(), pick in any::<usize>(), c in "[A-Za-z0-9_-]") {
        let token = ctx.to_token().unwrap();
        let i = pick % token.len();
        prop_assume!(token.as_bytes()[i] != c.as_bytes()[0]);
        let mut t = token.into_bytes();
        t[i] = c.as_bytes()[0];
        prop_assert!(Context::from_token(&String::from_utf8(t).unwrap()).is_err());
    }

    #[test]
    fn garbage_strings_are_rejected(s in ".{0,200}") {
        prop_assert!(Context::from_token(&s).is_err());
    }

    #[test]
    fn garbage_base64_is_rejected(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        prop_assert!(Context::from_token(&URL_SAFE_NO_PAD.encode(bytes)).is_err());
    }

    /// A correct checksum around random content: no panic, and whatever is accepted is
    /// canonical (re-encodes to the same token).
    #[test]
    fn forged_tokens_never_panic(body in prop::collection::vec(any::<u8>(), 0..200)) {
        let token = sealed_token(&body);
        if let Ok(ctx) = Context::from_token(&token) {
            prop_assert_eq!(ctx.to_token().unwrap(), token);
        }
    }
}

#[test]
fn each_failure_has_its_own_error() {
    assert_eq!(Context::from_token(""), Err(TokenError::Empty));
    assert_eq!(
        Context::from_token(&"A".repeat(MAX_TOKEN_LEN + 1)),
        Err(TokenError::TooLong {
            len: MAX_TOKEN_LEN + 1,
            max: MAX_TOKEN_LEN
        })
    );
    // Standard-alphabet characters, padding, whitespace: not base64url.
    for bad in ["ab+c", "ab/c", "AQ==", " AQID", "AQID\n", "A"] {
        assert!(
            matches!(Context::from_token(bad), Err(TokenError::Base64(_))),
            "{bad:?}"
        );
    }
    assert_eq!(
        Context::from_token(&URL_SAFE_NO_PAD.encode([9u8, 0, 0, 0, 0])),
        Err(TokenError::Content(DecodeError::UnknownVersion(9)))
    );
    assert_eq!(
        Context::from_token(&URL_SAFE_NO_PAD.encode([1u8, 0, 0])),
        Err(TokenError::Content(DecodeError::Truncated))
    );
    // Forged: correct checksum, 65535 actors claimed in 2 bytes.
    assert_eq!(
        Context::from_token(&sealed_token(&[0xff, 0xff])),
        Err(TokenError::Content(DecodeError::Truncated))
    );
    // Forged: correct checksum, a cloud dot the vector already covers (not normalised).
    let mut body = vec![0, 1, 2, b'n', b'1', 0, 0, 0, 0, 0, 0, 0, 0]; // one actor n1/e0
    body.extend([0, 1, 0, 0]); // clock: one entry, actor 0 ...
    body.extend(3u64.to_be_bytes()); // ... counter 3
    body.extend(0u64.to_be_bytes()); // ... at 0
    body.extend(1u32.to_be_bytes()); // cloud: one dot
    body.extend([0, 0]);
    body.extend(2u64.to_be_bytes()); // n1:2, covered by n1:3
    body.extend(0u64.to_be_bytes());
    assert_eq!(
        Context::from_token(&sealed_token(&body)),
        Err(TokenError::Content(DecodeError::Malformed(
            "context not normalised"
        )))
    );
}

#[test]
fn over_large_contexts_are_refused_on_encode() {
    // 400 isolated dots: about 7 KiB of binary, over 8 KiB of base64.
    let mut c = Context::new();
    for i in 0..400u64 {
        c.add(Dot::new(actor_e(0, 0), 2 * i + 2), Timestamp(i));
    }
    assert_eq!(
        c.to_token(),
        Err(EncodeError::TooLarge {
            what: "context token"
        })
    );
}

/// Format version 1 of the token stays readable: a token issued by an earlier build.
#[test]
fn token_v1_fixture() {
    const TOKEN: &str = "AQACAm4xAAAAAAAAAAECbjIAAAAAAAAACQABAAAAAAAAAAAAAgAAAYvP5WgCAAAAAQABAAAAAAAAAAQAAAGLz-VoBNk-SHo";
    let mut expected = Context::new();
    expected.add(Dot::new(actor_e(1, 1), 1), Timestamp(1_700_000_000_001));
    expected.add(Dot::new(actor_e(1, 1), 2), Timestamp(1_700_000_000_002));
    expected.add(Dot::new(actor_e(2, 9), 4), Timestamp(1_700_000_000_004));
    assert_eq!(Context::from_token(TOKEN).unwrap(), expected);
    assert_eq!(expected.to_token().unwrap(), TOKEN);
}
