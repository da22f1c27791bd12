//! The HTTP face: an axum router that parses Kubernetes REST paths and query
//! strings itself (the path grammar is ambiguous without the registry) and
//! answers every request, errors included, with `Content-Type: application/json`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tracing::Instrument;

use crate::api::{ApiServer, DeleteOpts, FieldValidation, ListOpts, PatchType, WriteOpts};
use crate::discovery;
use crate::error::{ApiError, ApiResult};
use crate::registry::ResourceInfo;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::table::{self, Render};
use crate::watch::{self, WatchParams};

/// The router serving the whole API.
pub fn router(server: ApiServer) -> Router {
    Router::new().fallback(handle).with_state(server)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = (status, bytes).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn error_response(e: &ApiError) -> Response {
    let code = StatusCode::from_u16(e.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(code, &e.to_status())
}

/// Query parameters, with empty pairs (kube sends `?&a=b`) ignored.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(uri: &Uri) -> Self {
        let q = uri.query().unwrap_or("");
        Self(
            url::form_urlencoded::parse(q.as_bytes())
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }
}

/// What a resource path addresses.
struct Target {
    ri: Arc<ResourceInfo>,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn resolve(server: &ApiServer, group: &str, version: &str, rest: &[&str]) -> ApiResult<Target> {
    let lookup = |plural: &str| server.resource(group, version, plural);
    // `namespaces/{ns}/{plural}…` when {plural} is a namespaced resource; otherwise
    // `namespaces/{name}[/status]` addresses Namespace objects themselves.
    if rest.len() >= 3
        && rest[0] == "namespaces"
        && let Some(ri) = lookup(rest[2]).filter(|ri| ri.namespaced)
    {
        if rest.len() > 5 {
            return Err(ApiError::NoSuchResource);
        }
        return Ok(Target {
            ri,
            namespace: Some(rest[1].to_string()),
            name: rest.get(3).map(|s| s.to_string()),
            subresource: rest.get(4).map(|s| s.to_string()),
        });
    }
    let Some(first) = rest.first() else {
        return Err(ApiError::NoSuchResource);
    };
    let ri = lookup(first).ok_or(ApiError::NoSuchResource)?;
    if rest.len() > 3 {
        return Err(ApiError::NoSuchResource);
    }
    Ok(Target {
        ri,
        namespace: None,
        name: rest.get(1).map(|s| s.to_string()),
        subresource: rest.get(2).map(|s| s.to_string()),
    })
}

async fn handle(
    State(server): State<ApiServer>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let watch = uri.query().is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .any(|(k, v)| k == "watch" && (v == "true" || v == "1"))
    });
    let span = tracing::debug_span!("request", %method, %path);
    let response = match dispatch(&server, &method, &uri, &headers, body)
        .instrument(span)
        .await
    {
        Ok(resp) => resp,
        Err(e) => {
            tracing::debug!(code = e.code(), error = %e, "request failed");
            error_response(&e)
        }
    };
    server
        .0
        .requests
        .record(method.as_str(), &path, watch, response.status().as_u16());
    response
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn dispatch(
    server: &ApiServer,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let path = uri.path().trim_end_matches('/');
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let query = Query::parse(uri);
    let ok = |v: Value| Ok(json_response(StatusCode::OK, &v));
    let reg = || server.registry();
    if *method == Method::GET {
        match segs.as_slice() {
            ["version"] => return ok(discovery::version()),
            ["healthz" | "readyz" | "livez", ..] => {
                let mut r = (StatusCode::OK, "ok").into_response();
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
                return Ok(r);
            }
            ["openapi", "v2"] => {
                // An empty protobuf document: kubectl treats it as "no schema known".
                let mut r = (StatusCode::OK, Vec::<u8>::new()).into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(
                        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                    ),
                );
                return Ok(r);
            }
            ["openapi", "v3"] => return ok(discovery::openapi_v3_root(&reg())),
            ["openapi", "v3", "api", v] => {
                return discovery::openapi_v3_gv(&reg(), "", v)
                    .map_or(Err(ApiError::NoSuchResource), ok);
            }
            ["openapi", "v3", "apis", g, v] => {
                return discovery::openapi_v3_gv(&reg(), g, v)
                    .map_or(Err(ApiError::NoSuchResource), ok);
            }
            ["api"] => {
                let host = header_str(headers, header::HOST);
                return ok(discovery::core_versions(if host.is_empty() {
                    "127.0.0.1"
                } else {
                    host
                }));
            }
            ["apis"] => return ok(discovery::group_list(&reg())),
            ["api", v] => {
                return discovery::resource_list(&reg(), "", v)
                    .map_or(Err(ApiError::NoSuchResource), ok);
            }
            ["apis", g] => {
                return discovery::group(&reg(), g).map_or(Err(ApiError::NoSuchResource), ok);
            }
            ["apis", g, v] => {
                return discovery::resource_list(&reg(), g, v)
                    .map_or(Err(ApiError::NoSuchResource), ok);
            }
            _ => {}
        }
    }
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] if !rest.is_empty() => ("", *v, rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
        _ => return Err(ApiError::NoSuchResource),
    };
    let t = resolve(server, group, version, rest)?;
    let ri = t.ri.clone();
    if ri.group.is_empty() && ri.plural == "pods" && t.subresource.as_deref() == Some("log") {
        let (&Method::GET, Some(name)) = (method, t.name.as_deref()) else {
            return Err(ApiError::MethodNotAllowed);
        };
        let ns = t.namespace.as_deref().unwrap_or_default();
        return crate::api::log::serve(server, &ri, ns, name, uri.query()).await;
    }
    let render = Render::from_accept(header_str(headers, header::ACCEPT));
    let include = query.get("includeObject").unwrap_or("Metadata").to_string();
    let status_sub = match t.subresource.as_deref() {
        None => false,
        Some("status") if ri.status_subresource => true,
        Some(_) => return Err(ApiError::NoSuchResource),
    };
    let ns = t.namespace.clone();
    if ri.verbs() == ["create"] && *method != Method::POST {
        return Err(ApiError::MethodNotAllowed);
    }
    let write_opts = WriteOpts {
        dry_run: query.get("dryRun") == Some("All"),
        field_validation: match query.get("fieldValidation") {
            Some("Strict") => FieldValidation::Strict,
            Some("Ignore") => FieldValidation::Ignore,
            // The server's default since 1.23.
            _ => FieldValidation::Warn,
        },
        field_manager: query.get("fieldManager").map(str::to_string),
        // The server's default manager: the User-Agent up to its first "/".
        user_agent_manager: Some(
            header_str(headers, header::USER_AGENT)
                .split('/')
                .next()
                .unwrap_or("")
                .chars()
                .take(128)
                .collect(),
        ),
        force: query.get("force").map(|f| f == "true" || f == "1"),
        duplicates: if matches!(*method, Method::POST | Method::PUT)
            && header_str(headers, header::CONTENT_TYPE).contains("json")
        {
            crate::builtins::fields::duplicate_fields(&body)
        } else {
            Vec::new()
        },
        warnings: crate::api::Warnings::default(),
        ..WriteOpts::default()
    };
    if !crate::protobuf::accepts_json(header_str(headers, header::ACCEPT)) {
        return Err(crate::protobuf::not_acceptable());
    }
    // JSON, YAML or Kubernetes protobuf, all decoded to the JSON a JSON client sends.
    let parse_body = |body: &Bytes| -> ApiResult<Value> {
        crate::protobuf::request_body(header_str(headers, header::CONTENT_TYPE), body)
    };
    let list_opts = || -> ApiResult<ListOpts> {
        let allowed: Vec<&str> = ri.field_selectors.iter().map(String::as_str).collect();
        Ok(ListOpts {
            labels: LabelSelector::parse(query.get("labelSelector").unwrap_or(""))?,
            fields: FieldSelector::parse(query.get("fieldSelector").unwrap_or(""), &allowed)?,
            limit: query.get("limit").and_then(|l| l.parse().ok()).unwrap_or(0),
            continue_token: query.get("continue").map(str::to_string),
        })
    };
    let single = |server: &ApiServer, obj: Value| -> Response {
        let _ = server;
        let v = match render {
            Render::Full => obj,
            Render::Metadata => table::partial_metadata(&obj),
            Render::Table => {
                let rv = obj
                    .pointer("/metadata/resourceVersion")
                    .cloned()
                    .unwrap_or(json!(""));
                table::table(
                    &ri,
                    std::slice::from_ref(&obj),
                    json!({"resourceVersion": rv}),
                    &include,
                )
            }
        };
        json_response(StatusCode::OK, &v)
    };
    let warnings = write_opts.warnings.clone();
    let response = match (method.clone(), t.name.as_deref()) {
        (Method::GET, None) => {
            let lo = list_opts()?;
            if query.flag("watch") {
                let timeout = query
                    .get("timeoutSeconds")
                    .and_then(|s| s.parse::<u64>().ok())
                    .map(Duration::from_secs)
                    .unwrap_or(server.0.config.default_watch_timeout);
                let send_initial = query.flag("sendInitialEvents");
                if send_initial
                    && (!query.flag("allowWatchBookmarks")
                        || query.get("resourceVersionMatch") != Some("NotOlderThan"))
                {
                    return Err(ApiError::Invalid(
                        "ListOptions.meta.k8s.io".into(),
                        crate::error::Subject::default(),
                        vec![crate::error::Cause::new(
                            "FieldValueForbidden",
                            "Forbidden: sendInitialEvents requires setting allowWatchBookmarks=true and resourceVersionMatch=NotOlderThan",
                            "sendInitialEvents",
                        )],
                    ));
                }
                let p = WatchParams {
                    namespace: ns,
                    resource_version: query.get("resourceVersion").map(str::to_string),
                    labels: lo.labels,
                    fields: lo.fields,
                    timeout,
                    bookmarks: query.flag("allowWatchBookmarks"),
                    send_initial_events: send_initial,
                    render,
                    include_object: include,
                };
                let stream = watch::watch(server, ri, p);
                let mut r = Response::new(Body::from_stream(stream));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                r.headers_mut().insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("no-cache, private"),
                );
                return Ok(r);
            }
            let crate::api::ListPage {
                items,
                rv,
                cont,
                remaining,
            } = server.list(&ri, ns.as_deref(), &lo)?;
            let mut meta = json!({"resourceVersion": rv.to_string()});
            if let Some(c) = cont {
                meta["continue"] = json!(c);
            }
            if let Some(n) = remaining {
                meta["remainingItemCount"] = json!(n);
            }
            let v = match render {
                Render::Full => {
                    json!({"apiVersion": ri.api_version(), "kind": format!("{}List", ri.kind), "metadata": meta, "items": items})
                }
                Render::Metadata => json!({
                    "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": meta,
                    "items": items.iter().map(table::partial_metadata).collect::<Vec<_>>()
                }),
                Render::Table => table::table(&ri, &items, meta, &include),
            };
            ok(v)
        }
        (Method::GET, Some(name)) => {
            let obj = server.get(&ri, ns.as_deref().unwrap_or(""), name)?;
            Ok(single(server, obj))
        }
        (Method::POST, None) => {
            let body = match parse_body(&body) {
                // A review is answered alike whatever it asks (nothing is enforced), so
                // one in a body this server cannot decode still gets its true answer.
                Err(_) if ri.builtin == Some(crate::registry::Builtin::Review) => json!({}),
                other => other?,
            };
            let obj = server.create(&ri, ns.as_deref(), body, &write_opts).await?;
            let mut r = single(server, obj);
            *r.status_mut() = StatusCode::CREATED;
            Ok(r)
        }
        (Method::PUT, Some(name)) => {
            let obj = server
                .update(
                    &ri,
                    ns.as_deref().unwrap_or(""),
                    name,
                    parse_body(&body)?,
                    status_sub,
                    &write_opts,
                )
                .await?;
            Ok(single(server, obj))
        }
        (Method::PATCH, Some(name)) => {
            let ct = header_str(headers, header::CONTENT_TYPE);
            let ct = ct.split(';').next().unwrap_or("").trim();
            let ptype = match ct {
                "application/merge-patch+json" => PatchType::Merge,
                "application/json-patch+json" => PatchType::Json,
                "application/strategic-merge-patch+json" => PatchType::Strategic,
                "application/apply-patch+yaml" | "application/apply-patch+json" => PatchType::Apply,
                _ => {
                    return Err(ApiError::UnsupportedMediaType(
                        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml".into(),
                    ));
                }
            };
            let obj = server
                .patch(
                    &ri,
                    ns.as_deref().unwrap_or(""),
                    name,
                    ptype,
                    &body,
                    status_sub,
                    &write_opts,
                )
                .await?;
            Ok(single(server, obj))
        }
        (Method::DELETE, Some(name)) => {
            let mut opts = DeleteOpts::from_json(&parse_body(&body)?);
            if let Some(p) = query.get("propagationPolicy") {
                opts.propagation = Some(p.to_string());
            }
            opts.dry_run |= write_opts.dry_run;
            let out = server
                .delete(&ri, ns.as_deref().unwrap_or(""), name, &opts)
                .await?;
            ok(out)
        }
        (Method::DELETE, None) => {
            let mut opts = DeleteOpts::from_json(&parse_body(&body)?);
            if let Some(p) = query.get("propagationPolicy") {
                opts.propagation = Some(p.to_string());
            }
            let out = server
                .delete_collection(&ri, ns.as_deref(), &list_opts()?, &opts)
                .await?;
            ok(out)
        }
        _ => Err(ApiError::MethodNotAllowed),
    };
    with_warnings(response, warnings.take())
}

/// `Warning: 299 - "…"` headers (kubectl prints them as `Warning: …`).
fn with_warnings(response: ApiResult<Response>, warnings: Vec<String>) -> ApiResult<Response> {
    let mut r = response?;
    for w in warnings {
        let text = format!("299 - {}", serde_json::Value::String(w));
        if let Ok(v) = HeaderValue::from_str(&text) {
            r.headers_mut().append(header::WARNING, v);
        }
    }
    Ok(r)
}
