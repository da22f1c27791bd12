//! GET and LIST, with paging by opaque continue tokens.

use base64::Engine as _;
use serde_json::{Value, json};

use super::meta::meta_str;
use super::{ApiServer, ListOpts, ListPage};
use crate::error::{ApiError, ApiResult};
use crate::registry::ResourceInfo;

/// Continue tokens: the list RV and the last key served, base64 JSON (opaque to clients).
fn encode_continue(rv: u64, ns: &str, name: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(json!({"rv": rv, "ns": ns, "name": name}).to_string())
}

fn decode_continue(token: &str) -> ApiResult<(u64, (String, String))> {
    let bad = || ApiError::BadRequest(format!("continue key is not valid: {token:?}"));
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rv = v["rv"].as_u64().ok_or_else(bad)?;
    let ns = v["ns"].as_str().ok_or_else(bad)?.to_string();
    let name = v["name"].as_str().ok_or_else(bad)?.to_string();
    Ok((rv, (ns, name)))
}

impl ApiServer {
    /// GET one object (served form).
    pub fn get(&self, ri: &ResourceInfo, ns: &str, name: &str) -> ApiResult<Value> {
        let ns = if ri.namespaced { ns } else { "" };
        let txn = self.0.store.txn();
        txn.get(&ri.storage, ns, name)
            .map(|o| Self::to_served(ri, &o))
            .ok_or_else(|| ApiError::NotFound(Self::subject(ri, name)))
    }

    /// LIST: (items in served form, list RV, continue token, remaining count).
    pub fn list(
        &self,
        ri: &ResourceInfo,
        ns: Option<&str>,
        opts: &ListOpts,
    ) -> ApiResult<ListPage> {
        let txn = self.0.store.txn();
        let (list_rv, after) = match &opts.continue_token {
            Some(t) if !t.is_empty() => {
                let (rv, after) = decode_continue(t)?;
                if rv < txn.state.window_start {
                    return Err(ApiError::Expired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.".into()));
                }
                (rv, Some(after))
            }
            _ => (txn.rv(), None),
        };
        let ns = if ri.namespaced { ns } else { None };
        let mut items = Vec::new();
        let mut last_key = None;
        let mut remaining = 0usize;
        for stored in txn.list(&ri.storage, ns, after.as_ref()) {
            if !opts.labels.matches(&stored) {
                continue;
            }
            let served = Self::to_served(ri, &stored);
            if !opts.fields.matches(&served) {
                continue;
            }
            if opts.limit > 0 && items.len() >= opts.limit {
                remaining += 1;
                continue;
            }
            last_key = Some((
                meta_str(&stored, "namespace")
                    .unwrap_or_default()
                    .to_string(),
                meta_str(&stored, "name").unwrap_or_default().to_string(),
            ));
            items.push(served);
        }
        let cont = match (remaining > 0, last_key) {
            (true, Some((ns, name))) => Some(encode_continue(list_rv, &ns, &name)),
            _ => None,
        };
        Ok(ListPage {
            items,
            rv: list_rv,
            cont,
            remaining: (remaining > 0).then_some(remaining),
        })
    }
}
