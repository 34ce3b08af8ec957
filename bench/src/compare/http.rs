//! The few HTTP requests the comparison sends to our nodes itself: `GET /ping` to see that a
//! node is up, `PUT /props` to set the cluster's durability mode before a run, `GET /props` to
//! see that every node has it. A blocking HTTP/1.1 request over a fresh connection each time
//! (`Connection: close`): a handful per run, so simplicity wins over speed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{CompareError, CompareResult};

/// Time limit of each step of a request (connecting, writing, reading).
const TIMEOUT: Duration = Duration::from_secs(5);

/// An answer: its status code and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status code, e.g. 200.
    pub status: u16,
    /// The body as text (lossy UTF-8).
    pub body: String,
}

impl Answer {
    /// True for a 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Sends `method path` with an optional JSON `body` to `addr` and reads the whole answer.
///
/// # Errors
/// [`CompareError::Io`] when the node cannot be reached or the answer is not HTTP.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> CompareResult<Answer> {
    let what = format!("{method} http://{addr}{path}");
    let io = |e| CompareError::Io {
        what: what.clone(),
        source: e,
    };
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(io)?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    let body = body.unwrap_or("");
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).map_err(io)?;
    stream.write_all(body.as_bytes()).map_err(io)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(io)?;
    parse_answer(&String::from_utf8_lossy(&raw)).ok_or_else(|| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not an HTTP answer",
        ))
    })
}

/// Reads the status code and body of a raw HTTP/1.1 answer (the body is everything after the
/// blank line; the small answers read here are never chunked into several pieces that matter).
fn parse_answer(raw: &str) -> Option<Answer> {
    let status_line = raw.lines().next()?;
    let mut parts = status_line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    let status = parts.next()?.parse().ok()?;
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Some(Answer {
        status,
        body: body.to_owned(),
    })
}

/// True when the node at `addr` answers `GET /ping` with a 200.
pub fn ping(addr: SocketAddr) -> bool {
    request(addr, "GET", "/ping", None).is_ok_and(|a| a.status == 200)
}

/// What setting a cluster property came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropsOutcome {
    /// Every node reported the new value.
    Applied,
    /// The node accepted it, but not every node reported it before the time limit.
    NotSeenEverywhere,
    /// The node refused it with a 400: this version of the server does not know the property.
    Unsupported(String),
}

/// Sets the cluster's default durability mode (`PUT /props` on `first` with
/// `{"durability": mode}`), then waits up to 10 s until every node in `all` reports it in
/// `GET /props`.
///
/// # Errors
/// A node that cannot be reached, or an answer other than 2xx and 400.
pub fn set_durability(
    first: SocketAddr,
    all: &[SocketAddr],
    mode: &str,
) -> CompareResult<PropsOutcome> {
    let body = serde_json::json!({ "durability": mode }).to_string();
    let answer = request(first, "PUT", "/props", Some(&body))?;
    if answer.status == 400 {
        return Ok(PropsOutcome::Unsupported(answer.body.trim().to_owned()));
    }
    if !answer.is_success() {
        return Err(CompareError::Http {
            request: format!("PUT http://{first}/props {body}"),
            status: answer.status,
            body: answer.body,
        });
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut everywhere = true;
        for &node in all {
            let answer = request(node, "GET", "/props", None)?;
            if props_field(&answer.body, "durability").as_deref() != Some(mode) {
                everywhere = false;
                break;
            }
        }
        if everywhere {
            return Ok(PropsOutcome::Applied);
        }
        if Instant::now() >= deadline {
            return Ok(PropsOutcome::NotSeenEverywhere);
        }
        thread::sleep(Duration::from_millis(200));
    }
}

/// The string field `name` of the JSON object in `body` (what `GET /props` answers).
fn props_field(body: &str, name: &str) -> Option<String> {
    let start = body.find('{')?;
    let end = body.rfind('}')?;
    let value: Value = serde_json::from_str(body.get(start..=end)?).ok()?;
    value.get(name)?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse() {
        let a = parse_answer("HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}").unwrap();
        assert_eq!(a.status, 400);
        assert_eq!(a.body, "{}");
        assert!(parse_answer("SSH-2.0-OpenSSH\r\n").is_none());
    }

    #[test]
    fn props_field_reads_the_json_body() {
        let body = r#"{"n":3,"r":2,"w":2,"versioning":"dvv","durability":"one"}"#;
        assert_eq!(props_field(body, "durability").as_deref(), Some("one"));
        assert_eq!(props_field(body, "missing"), None);
        assert_eq!(props_field("not json", "durability"), None);
    }
}
