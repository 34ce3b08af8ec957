//! The Dynamo store's binary client protocol: a compact alternative to the HTTP API for the
//! three data operations (get, put, delete), in the spirit of Riak's protocol-buffers
//! interface beside its HTTP one.
//!
//! Why it exists: an HTTP request costs the client and the server several times what the
//! operation's own bookkeeping costs (request line, headers, base64 JSON for siblings). This
//! protocol carries the same requests, contexts and answers in a few bytes of framing, and lets
//! one connection carry many requests at once (pipelining with out-of-order answers).
//!
//! # On the wire
//!
//! A TCP connection carries frames in both directions. Each frame is the big-endian `u32`
//! length of the rest, the protocol [`VERSION`] byte, then the
//! [postcard](https://postcard.jamesmunns.com) encoding of a [`RequestFrame`] (client to
//! server) or a [`ResponseFrame`] (server to client):
//!
//! ```text
//! +----------------+---------+---------------------------------------+
//! | length (u32 BE)| version | postcard(RequestFrame | ResponseFrame) |
//! +----------------+---------+---------------------------------------+
//! ```
//!
//! Every request carries an id chosen by the client; its answer carries the same id. Answers
//! may come in any order. A client may send many requests before reading answers; the server
//! bounds how many it works on per connection and stops reading until some are answered.
//!
//! Contexts travel as the same opaque tokens the HTTP API uses in `X-Dynamo-Context`, so a
//! context read over one protocol can be written back over the other.
//!
//! Decoding never panics: a frame that is oversized, truncated, of another version or
//! malformed is a [`ProtocolError`]. The server answers a frame it cannot decode with an
//! error frame of id 0 and closes the connection.
//!
//! ```
//! use dynamo_protocol::{Request, RequestFrame, decode, encode_into};
//!
//! let frame = RequestFrame {
//!     id: 7,
//!     request: Request::Get { bucket: "cart".into(), key: "alice".into(), r: None },
//! };
//! let mut wire = Vec::new();
//! encode_into(&frame, 1 << 20, &mut wire).unwrap();
//! let (decoded, used) = decode::<RequestFrame>(&wire, 1 << 20).unwrap().unwrap();
//! assert_eq!((decoded, used), (frame, wire.len()));
//! ```

mod codec;
mod message;

pub use codec::{LENGTH_BYTES, ProtocolError, VERSION, decode, encode_into};
pub use message::{
    ErrorKind, ErrorReply, Read, Request, RequestFrame, Response, ResponseFrame, Sibling,
};
