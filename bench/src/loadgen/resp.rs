//! A small client of the Redis protocol (RESP2), enough for the load generator to load
//! `redis-server` or Netflix Dynomite: `GET`, `SET` and `PING` over one TCP connection
//! (`TCP_NODELAY` on), one request in flight at a time.
//!
//! A request is an array of bulk strings (`*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n`); a
//! reply is one of
//!
//! | first byte | reply | example |
//! |---|---|---|
//! | `+` | simple string | `+OK\r\n` |
//! | `-` | error | `-ERR unknown command\r\n` |
//! | `:` | integer | `:42\r\n` |
//! | `$` | bulk string, or nil when the length is -1 | `$5\r\nvalue\r\n`, `$-1\r\n` |
//!
//! Arrays (`*`) are not read: no command sent here answers with one. The parser
//! ([`parse_reply`]) is bounded: a line longer than [`MAX_LINE`] bytes or a bulk string longer
//! than the limit it is given is an error, decided before that much is buffered; bad bytes are
//! errors too, never panics. After any error but an error reply from the server the
//! connection is out of step and must be dropped.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest simple-string, error or integer line read (without its CRLF).
pub const MAX_LINE: usize = 64 * 1024;

/// The longest bulk string a [`RespClient`] reads: larger values are a protocol error.
pub const MAX_BULK: usize = 64 * 1024 * 1024;

/// One reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`: a status line (bytes that are not UTF-8 are replaced).
    Simple(String),
    /// `-ERR ...`: the server refused the command; the connection stays usable.
    Error(String),
    /// `:42`.
    Integer(i64),
    /// `$5\r\nvalue`: a binary-safe string.
    Bulk(Bytes),
    /// `$-1`: no value (a `GET` of a missing key).
    Nil,
}

/// Bytes that are not a reply this client reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The first byte of a reply is not `+`, `-`, `:` or `$`.
    #[error("a reply of type {0:?}, which this client does not read")]
    UnsupportedType(char),
    /// No CRLF within [`MAX_LINE`] bytes.
    #[error("a reply line longer than {MAX_LINE} bytes")]
    LineTooLong,
    /// An integer or a length that is not a decimal number.
    #[error("{0:?} is not a number")]
    BadNumber(String),
    /// A bulk length below -1.
    #[error("a bulk string of length {0}")]
    BadLength(i64),
    /// A bulk string longer than allowed.
    #[error("a bulk string of {len} bytes, above the limit of {max}")]
    BulkTooLarge {
        /// Its announced length.
        len: i64,
        /// The limit.
        max: usize,
    },
    /// The bytes after a bulk string's data are not CRLF.
    #[error("a bulk string not followed by CRLF")]
    MissingCrlf,
    /// Bytes came after the reply although only one request was in flight.
    #[error("{0} unexpected bytes after the reply")]
    Trailing(usize),
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum RespError {
    /// The address is not `host:port` or `redis://host:port`.
    #[error("bad address {address:?}: {why}")]
    Address {
        /// The address given.
        address: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The TCP connection could not be opened.
    #[error("cannot connect to {address}: {source}")]
    Connect {
        /// The server's `host:port`.
        address: String,
        /// The system's error.
        source: std::io::Error,
    },
    /// Reading or writing the connection failed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// The server closed the connection before its reply was complete.
    #[error("the server closed the connection")]
    Closed,
    /// No complete reply in time.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The reply is malformed.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The server answered with an error reply.
    #[error("server error: {0}")]
    Server(String),
    /// A well-formed reply that does not answer the command (e.g. an integer to a `GET`).
    #[error("unexpected reply to {command}: {reply:?}")]
    Unexpected {
        /// The command sent.
        command: &'static str,
        /// What came back.
        reply: Reply,
    },
}

impl RespError {
    /// True when the connection is still in step after this error: only an error reply (the
    /// server read the whole command and answered it). After any other, drop the connection.
    pub fn connection_usable(&self) -> bool {
        matches!(self, RespError::Server(_) | RespError::Unexpected { .. })
    }
}

/// `host:port` from `host:port` or `redis://host:port` (a trailing `/` allowed).
///
/// # Errors
/// [`RespError::Address`]: another scheme, a path, credentials, no port.
pub fn parse_address(node: &str) -> Result<String, RespError> {
    let bad = |why| {
        Err(RespError::Address {
            address: node.to_owned(),
            why,
        })
    };
    let rest = node.strip_prefix("redis://").unwrap_or(node);
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains("://") {
        return bad("only redis:// addresses (or a bare host:port) speak RESP");
    }
    if rest.contains('/') || rest.contains('@') {
        return bad("paths, database numbers and credentials are not supported");
    }
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Ok(rest.to_owned())
        }
        _ => bad("expected host:port"),
    }
}

/// Appends the request `args` (a command and its arguments) to `out`, as an array of bulk
/// strings.
pub fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Where the first CRLF of `buf` starts: `Ok(None)` when there is none yet and the line may
/// still be short enough.
fn find_crlf(buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
    let window = &buf[..buf.len().min(MAX_LINE + 2)];
    match window.windows(2).position(|w| w == b"\r\n") {
        Some(at) => Ok(Some(at)),
        None if buf.len() >= MAX_LINE + 2 => Err(ProtocolError::LineTooLong),
        None => Ok(None),
    }
}

/// A decimal `i64` (an optional `-`, then digits).
fn parse_number(line: &[u8]) -> Result<i64, ProtocolError> {
    let digits = line.strip_prefix(b"-").unwrap_or(line);
    let bad = || ProtocolError::BadNumber(String::from_utf8_lossy(line).into_owned());
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    // ASCII digits and a sign are UTF-8; an overflow is an error of parse.
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)
}

/// Parses the reply at the start of `buf`, accepting bulk strings of at most `max_bulk` bytes.
///
/// `Ok(None)`: the reply is not complete yet; read more and call again with the longer
/// buffer. `Ok(Some((reply, used)))`: the reply and the bytes it took.
///
/// # Errors
/// [`ProtocolError`] when the bytes cannot be the start of a reply this client reads.
pub fn parse_reply(buf: &[u8], max_bulk: usize) -> Result<Option<(Reply, usize)>, ProtocolError> {
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    if !matches!(kind, b'+' | b'-' | b':' | b'$') {
        return Err(ProtocolError::UnsupportedType(char::from(kind)));
    }
    let Some(line_len) = find_crlf(&buf[1..])? else {
        return Ok(None);
    };
    let line = &buf[1..1 + line_len];
    let header = 1 + line_len + 2;
    let text = || String::from_utf8_lossy(line).into_owned();
    let reply = match kind {
        b'+' => Reply::Simple(text()),
        b'-' => Reply::Error(text()),
        b':' => Reply::Integer(parse_number(line)?),
        _ => {
            let len = parse_number(line)?;
            if len == -1 {
                return Ok(Some((Reply::Nil, header)));
            }
            let size = usize::try_from(len).map_err(|_| ProtocolError::BadLength(len))?;
            if size > max_bulk {
                return Err(ProtocolError::BulkTooLarge { len, max: max_bulk });
            }
            let end = header + size;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(ProtocolError::MissingCrlf);
            }
            return Ok(Some((
                Reply::Bulk(Bytes::copy_from_slice(&buf[header..end])),
                end + 2,
            )));
        }
    };
    Ok(Some((reply, header)))
}

/// One connection to a RESP server. Each call sends one command and waits for its reply; it
/// has no time limit of its own (wrap it in `tokio::time::timeout`, and drop the connection
/// when that fires).
#[derive(Debug)]
pub struct RespClient {
    stream: TcpStream,
    /// Bytes read and not yet parsed.
    input: BytesMut,
    /// The request being written (kept to reuse its allocation).
    output: Vec<u8>,
    max_bulk: usize,
}

impl RespClient {
    /// Connects to `address` (`host:port`), with `TCP_NODELAY` on, reading bulk strings of up
    /// to [`MAX_BULK`] bytes.
    ///
    /// # Errors
    /// [`RespError::Connect`].
    pub async fn connect(address: &str) -> Result<RespClient, RespError> {
        let connect_error = |source| RespError::Connect {
            address: address.to_owned(),
            source,
        };
        let stream = TcpStream::connect(address).await.map_err(connect_error)?;
        stream.set_nodelay(true).map_err(connect_error)?;
        Ok(RespClient {
            stream,
            input: BytesMut::with_capacity(16 * 1024),
            output: Vec::with_capacity(1024),
            max_bulk: MAX_BULK,
        })
    }

    /// Sends `args` and reads the one reply (an error reply is returned as
    /// [`Reply::Error`], not as an error).
    ///
    /// # Errors
    /// [`RespError`]: the connection failed or closed, or the reply is malformed.
    pub async fn command(&mut self, args: &[&[u8]]) -> Result<Reply, RespError> {
        self.output.clear();
        encode_command(&mut self.output, args);
        self.stream.write_all(&self.output).await?;
        loop {
            if let Some((reply, used)) = parse_reply(&self.input, self.max_bulk)? {
                self.input.advance(used);
                if !self.input.is_empty() {
                    return Err(ProtocolError::Trailing(self.input.len()).into());
                }
                return Ok(reply);
            }
            self.input.reserve(16 * 1024);
            if self.stream.read_buf(&mut self.input).await? == 0 {
                return Err(RespError::Closed);
            }
        }
    }

    /// `GET key`: the value, or `None` when the key is absent.
    ///
    /// # Errors
    /// As [`RespClient::command`]; [`RespError::Server`] for an error reply;
    /// [`RespError::Unexpected`] for a reply that is neither a bulk string nor nil.
    pub async fn get(&mut self, key: &[u8]) -> Result<Option<Bytes>, RespError> {
        match self.command(&[b"GET", key]).await? {
            Reply::Bulk(value) => Ok(Some(value)),
            Reply::Nil => Ok(None),
            Reply::Error(message) => Err(RespError::Server(message)),
            reply => Err(RespError::Unexpected {
                command: "GET",
                reply,
            }),
        }
    }

    /// `SET key value`.
    ///
    /// # Errors
    /// As [`RespClient::command`]; [`RespError::Server`] for an error reply;
    /// [`RespError::Unexpected`] for anything but `+OK`.
    pub async fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), RespError> {
        match self.command(&[b"SET", key, value]).await? {
            Reply::Simple(status) if status == "OK" => Ok(()),
            Reply::Error(message) => Err(RespError::Server(message)),
            reply => Err(RespError::Unexpected {
                command: "SET",
                reply,
            }),
        }
    }

    /// `PING`: whatever the server answers, an error reply included (a proxy may not know
    /// the command, and still answers).
    ///
    /// # Errors
    /// As [`RespClient::command`].
    pub async fn ping(&mut self) -> Result<Reply, RespError> {
        self.command(&[b"PING"]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Option<(Reply, usize)>, ProtocolError> {
        parse_reply(bytes, 1024)
    }

    #[test]
    fn each_reply_type_parses() {
        assert_eq!(parse(b"+OK\r\n"), Ok(Some((Reply::Simple("OK".into()), 5))));
        assert_eq!(
            parse(b"-ERR unknown command 'FOO'\r\n"),
            Ok(Some((Reply::Error("ERR unknown command 'FOO'".into()), 28)))
        );
        assert_eq!(parse(b":42\r\n"), Ok(Some((Reply::Integer(42), 5))));
        assert_eq!(parse(b":-7\r\n"), Ok(Some((Reply::Integer(-7), 5))));
        assert_eq!(
            parse(b"$5\r\nhello\r\n"),
            Ok(Some((Reply::Bulk(Bytes::from_static(b"hello")), 11)))
        );
        // Binary-safe: CRLF inside the data is data.
        assert_eq!(
            parse(b"$4\r\n\r\n\r\n\r\n"),
            Ok(Some((Reply::Bulk(Bytes::from_static(b"\r\n\r\n")), 10)))
        );
        assert_eq!(
            parse(b"$0\r\n\r\n"),
            Ok(Some((Reply::Bulk(Bytes::new()), 6)))
        );
        assert_eq!(parse(b"$-1\r\n"), Ok(Some((Reply::Nil, 5))));
        // Only the first reply is taken.
        assert_eq!(
            parse(b"+OK\r\n:1\r\n"),
            Ok(Some((Reply::Simple("OK".into()), 5)))
        );
    }

    #[test]
    fn partial_replies_ask_for_more() {
        let whole = b"$5\r\nhello\r\n";
        for cut in 0..whole.len() {
            assert_eq!(parse(&whole[..cut]), Ok(None), "cut at {cut}");
        }
        for whole in [&b"+OK\r\n"[..], b"-ERR x\r\n", b":12\r\n", b"$-1\r\n"] {
            for cut in 0..whole.len() {
                assert_eq!(parse(&whole[..cut]), Ok(None), "{whole:?} cut at {cut}");
            }
            assert!(matches!(parse(whole), Ok(Some((_, n))) if n == whole.len()));
        }
    }

    #[test]
    fn bad_bytes_are_errors() {
        assert_eq!(parse(b"*1\r\n"), Err(ProtocolError::UnsupportedType('*')));
        assert_eq!(parse(b"hello"), Err(ProtocolError::UnsupportedType('h')));
        assert!(matches!(
            parse(b":x1\r\n"),
            Err(ProtocolError::BadNumber(_))
        ));
        assert!(matches!(parse(b":\r\n"), Err(ProtocolError::BadNumber(_))));
        assert!(matches!(parse(b":-\r\n"), Err(ProtocolError::BadNumber(_))));
        assert!(matches!(
            parse(b":99999999999999999999\r\n"),
            Err(ProtocolError::BadNumber(_))
        ));
        assert!(matches!(
            parse(b"$1x\r\n"),
            Err(ProtocolError::BadNumber(_))
        ));
        assert_eq!(parse(b"$-2\r\n"), Err(ProtocolError::BadLength(-2)));
        assert_eq!(parse(b"$3\r\nabcde"), Err(ProtocolError::MissingCrlf));
        // Too large is refused from the header alone, before the data arrives.
        assert_eq!(
            parse(b"$1025\r\n"),
            Err(ProtocolError::BulkTooLarge {
                len: 1025,
                max: 1024
            })
        );
        // A line that never ends is refused once it is too long, not buffered for ever.
        let mut endless = vec![b'+'];
        endless.resize(MAX_LINE + 1, b'a');
        assert_eq!(parse(&endless), Ok(None));
        endless.resize(MAX_LINE + 3, b'a');
        assert_eq!(parse(&endless), Err(ProtocolError::LineTooLong));
        // The longest line allowed still parses.
        let mut longest = vec![b'+'];
        longest.resize(MAX_LINE + 1, b'a');
        longest.extend_from_slice(b"\r\n");
        assert!(matches!(parse(&longest), Ok(Some((Reply::Simple(s), _))) if s.len() == MAX_LINE));
        // Bytes that are not UTF-8 in a status line are replaced, not a panic.
        assert!(matches!(
            parse(b"-\xff\xfe\r\n"),
            Ok(Some((Reply::Error(_), 5)))
        ));
    }

    #[test]
    fn commands_encode_as_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        encode_command(&mut out, &[b"SET", b"k", b"a\r\nb"]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n");
    }

    #[test]
    fn addresses() {
        assert_eq!(parse_address("127.0.0.1:6379").unwrap(), "127.0.0.1:6379");
        assert_eq!(
            parse_address("redis://localhost:8102/").unwrap(),
            "localhost:8102"
        );
        assert_eq!(parse_address("[::1]:6379").unwrap(), "[::1]:6379");
        for bad in [
            "http://127.0.0.1:8001",
            "127.0.0.1",
            "redis://h:6379/0",
            "redis://u:p@h:6379",
            ":6379",
            "h:99999",
        ] {
            assert!(parse_address(bad).is_err(), "{bad}");
        }
    }

    /// A server that answers in dribs and drabs, then closes: the client reassembles the
    /// replies, maps them, and sees the close.
    #[tokio::test]
    async fn client_reads_split_replies_and_sees_a_close() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 256];
            let answers: [&[&[u8]]; 4] = [
                &[b"$", b"3\r", b"\nab", b"c", b"\r\n"],
                &[b"$-1\r\n"],
                &[b"-ERR no", b"pe\r\n"],
                &[b"+O"],
            ];
            for pieces in answers {
                let n = socket.read(&mut request).await.unwrap();
                assert!(n > 0);
                for piece in pieces {
                    socket.write_all(piece).await.unwrap();
                    socket.flush().await.unwrap();
                    tokio::task::yield_now().await;
                }
            }
            // The last reply is cut short by the close.
        });
        let mut client = RespClient::connect(&address).await.unwrap();
        assert_eq!(
            client.get(b"k").await.unwrap(),
            Some(Bytes::from_static(b"abc"))
        );
        assert_eq!(client.get(b"missing").await.unwrap(), None);
        let e = client.set(b"k", b"v").await.unwrap_err();
        assert!(matches!(&e, RespError::Server(m) if m == "ERR nope"), "{e}");
        assert!(e.connection_usable());
        let e = client.set(b"k", b"v").await.unwrap_err();
        assert!(matches!(e, RespError::Closed), "{e}");
        assert!(!e.connection_usable());
        server.await.unwrap();
    }
}
