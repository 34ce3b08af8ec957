//! Admin endpoints: `GET /admin/status`, `POST /admin/join?seed=<id>@<host:port>`,
//! `POST /admin/leave` (each answers the node's [`AdminInfo`] as JSON, after it acted), and
//! the access keys: `GET /admin/keys` (every key, without secrets), `POST /admin/keys` (makes
//! a key; the answer holds its secret, shown this once) and `DELETE /admin/keys/{id}`.

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use dynamo_core::NodeId;
use dynamo_core::membership::MAX_ADDRESS_LEN;
use dynamo_core::membership::keys::{AccessKey, Grant};
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
            let mut info: AdminInfo = info?;
            // The control shard answered for itself: the load and transfers are every
            // shard's.
            let figures = super::shards::figures(&st.handle).await?;
            let totals = super::shards::totals(&figures);
            info.open_operations = totals.open_operations;
            info.pending_writes = totals.pending_writes;
            info.transfers_pending = Some(totals.transfers_pending);
            info.transfers = totals.transfers;
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

/// What `POST /admin/keys` takes: `{"admin": false, "read": ["cart"], "write": ["cart"]}`
/// (`"*"` for every bucket).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct NewKey {
    admin: bool,
    read: Vec<String>,
    write: Vec<String>,
}

/// `POST /admin/keys`: makes a key, answers `201` with `{"id", "token"}` (the token,
/// `<id>.<secret>`, is shown only here).
pub(crate) async fn create_key(State(st): State<HttpState>, body: axum::body::Bytes) -> Response {
    let outcome = async {
        let spec: NewKey = if body.is_empty() {
            NewKey::default()
        } else {
            serde_json::from_slice(&body).map_err(|e| {
                ApiError::bad(format!(
                    "a new key is {{\"admin\", \"read\", \"write\"}}: {e}"
                ))
            })?
        };
        let mut grants: Vec<Grant> = Vec::new();
        for (names, read) in [(&spec.read, true), (&spec.write, false)] {
            for name in names {
                let bucket = if name == "*" {
                    Bytes::new()
                } else {
                    super::params::check_bucket(name.as_bytes())?;
                    Bytes::copy_from_slice(name.as_bytes())
                };
                grants.push(Grant {
                    bucket,
                    read,
                    write: !read,
                });
            }
        }
        let (id, secret, token) = crate::auth::new_token()
            .map_err(|e| ApiError::Internal(format!("no randomness for a key: {e}")))?;
        let created_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let key = AccessKey {
            secret_digest: crate::auth::digest(&secret),
            admin: spec.admin,
            grants,
            created_ms,
            revoked: false,
        };
        keys_request(
            &st,
            ClientRequest::CreateKey {
                id: id.clone(),
                key,
            },
        )
        .await?;
        Ok((
            axum::http::StatusCode::CREATED,
            Json(serde_json::json!({ "id": id, "token": token })),
        )
            .into_response())
    }
    .await;
    finish(&st.metrics, outcome)
}

/// `GET /admin/keys`: every key with its permissions and state, never a secret.
pub(crate) async fn list_keys(State(st): State<HttpState>) -> Response {
    let outcome = async {
        let keys = keys_request(&st, ClientRequest::ListKeys).await?;
        Ok(Json(keys_json(&keys)).into_response())
    }
    .await;
    finish(&st.metrics, outcome)
}

/// `DELETE /admin/keys/{id}`: revokes the key on every node (gossiped).
pub(crate) async fn revoke_key(
    State(st): State<HttpState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let outcome = async {
        let keys = keys_request(&st, ClientRequest::RevokeKey { id }).await?;
        Ok(Json(keys_json(&keys)).into_response())
    }
    .await;
    finish(&st.metrics, outcome)
}

async fn keys_request(
    st: &HttpState,
    request: ClientRequest,
) -> Result<Vec<(String, AccessKey)>, ApiError> {
    match st.handle.request(request).await? {
        ClientResponse::Keys(keys) => Ok(keys?),
        other => Err(unexpected("keys", &other)),
    }
}

fn keys_json(keys: &[(String, AccessKey)]) -> serde_json::Value {
    let name = |b: &Bytes| {
        if b.is_empty() {
            "*".to_owned()
        } else {
            String::from_utf8_lossy(b).into_owned()
        }
    };
    serde_json::Value::Array(
        keys.iter()
            .map(|(id, k)| {
                serde_json::json!({
                    "id": id,
                    "admin": k.admin,
                    "read": k.grants.iter().filter(|g| g.read).map(|g| name(&g.bucket)).collect::<Vec<_>>(),
                    "write": k.grants.iter().filter(|g| g.write).map(|g| name(&g.bucket)).collect::<Vec<_>>(),
                    "created_ms": k.created_ms,
                    "revoked": k.revoked,
                })
            })
            .collect(),
    )
}
