//! Admin endpoints: `GET /admin/status`, `POST /admin/join?seed=<id>@<host:port>`,
//! `POST /admin/leave`. Each answers the node's [`AdminInfo`] as JSON, after it acted.

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use dynamo_core::NodeId;
use dynamo_core::membership::MAX_ADDRESS_LEN;
use dynamo_core::proto::{AdminInfo, ClientRequest, ClientResponse};

use super::HttpState;
use super::errors::{ApiError, finish};
use super::keys::unexpected;
use super::params::Query;

/// `GET /admin/status`.
pub(crate) async fn status(State(st): State<HttpState>, uri: Uri) -> Response {
    let outcome = async {
        Query::parse(uri.query(), &[])?;
        admin(&st, ClientRequest::Status).await
    }
    .await;
    finish(&st.metrics, outcome)
}

/// `POST /admin/join?seed=<id>@<host:port>`: tells the driver where the seed listens, then
/// asks the node to join the seed's cluster.
pub(crate) async fn join(State(st): State<HttpState>, uri: Uri) -> Response {
    let outcome = async {
        let query = Query::parse(uri.query(), &["seed"])?;
        let seed = query
            .get("seed")
            .ok_or_else(|| ApiError::bad("missing query parameter seed=<id>@<host:port>"))?;
        let (node, address) = parse_seed(seed)?;
        st.handle.learn_address(node.clone(), address)?;
        admin(&st, ClientRequest::Join { seed: node }).await
    }
    .await;
    finish(&st.metrics, outcome)
}

/// `POST /admin/leave`.
pub(crate) async fn leave(State(st): State<HttpState>, uri: Uri) -> Response {
    let outcome = async {
        Query::parse(uri.query(), &[])?;
        admin(&st, ClientRequest::Leave).await
    }
    .await;
    finish(&st.metrics, outcome)
}

async fn admin(st: &HttpState, request: ClientRequest) -> Result<Response, ApiError> {
    match st.handle.request(request).await? {
        ClientResponse::Admin(info) => {
            let info: AdminInfo = info?;
            Ok(Json(info).into_response())
        }
        other => Err(unexpected("admin", &other)),
    }
}

/// Parses `<id>@<host>:<port>`.
///
/// # Errors
/// [`ApiError::BadRequest`] for a bad node id, a missing `@`, or an address without a port.
pub(crate) fn parse_seed(seed: &str) -> Result<(NodeId, String), ApiError> {
    let (id, address) = seed
        .split_once('@')
        .ok_or_else(|| ApiError::bad(format!("seed {seed:?}: expected <id>@<host>:<port>")))?;
    let node = NodeId::new(id).map_err(|e| ApiError::bad(e.to_string()))?;
    let port_ok = address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !port_ok || address.len() > MAX_ADDRESS_LEN || address.chars().any(char::is_whitespace) {
        return Err(ApiError::bad(format!(
            "seed address {address:?}: expected <host>:<port>"
        )));
    }
    Ok((node, address.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds() {
        let (n, a) = parse_seed("n2@127.0.0.1:7001").unwrap();
        assert_eq!(n.as_str(), "n2");
        assert_eq!(a, "127.0.0.1:7001");
        assert!(parse_seed("[::1]:7001").is_err());
        assert!(parse_seed("n2@[::1]:7001").is_ok());
        for bad in [
            "n2",
            "n2@",
            "n2@host",
            "n2@:1",
            "n2@h:99999",
            "bad id@h:1",
            "@h:1",
        ] {
            assert!(parse_seed(bad).is_err(), "{bad}");
        }
    }
}
