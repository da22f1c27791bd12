//! A gateway over real HTTP for the integration tests: the devcluster API
//! emulator (CRD installed, tenant namespaces created), storage in a local
//! folder or the in-process S3 server, and the gateway library itself on
//! 127.0.0.1:0. No operator: tests drive a task by patching its `.status`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use pdfx_crd::PdfExtraction;
use pdfx_devcluster::{ApiServer, Running};
use pdfx_gateway::{GatewayArgs, GatewayConfig};
use pdfx_runtime::{Admin, Shutdown};
use pdfx_storage::{S3Config, StorageUri, Store};
use pdfx_testkit::S3Server;
use serde_json::Value;

/// A hang guard, never a speed budget.
pub const WAIT: Duration = Duration::from_secs(60);
pub const TENANTS: [&str; 2] = ["team-a", "team-b"];
pub const KEY_A: &str = "key-of-team-a-0123456789abcdef";
pub const KEY_B: &str = "key-of-team-b-0123456789abcdef";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Local,
    S3,
}

pub enum Storage {
    Local(tempfile::TempDir),
    S3(S3Server),
}

pub struct Gateway {
    pub url: String,
    pub http: reqwest::Client,
    pub client: Client,
    pub cluster: Option<Running>,
    pub server: ApiServer,
    pub storage: Option<Storage>,
    pub storage_uri: StorageUri,
    pub s3: S3Config,
    pub store: Store,
    pub base: String,
    pub admin: Admin,
    pub shutdown: Shutdown,
    pub keys_file: PathBuf,
    _keys_dir: tempfile::TempDir,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// The key file line of a key.
pub fn key_line(tenant: &str, key: &str) -> String {
    format!(
        "{tenant} sha256:{}\n",
        hex::encode(pdfx_gateway::auth::hash_key(key))
    )
}

/// A small valid-looking PDF body (the gateway checks only the signature).
pub fn pdf(len: usize) -> Vec<u8> {
    let mut body = b"%PDF-1.7\n".to_vec();
    body.resize(len.max(9), b'x');
    body
}

impl Gateway {
    /// Auth on, keys for team-a and team-b in a file.
    pub async fn start(backend: Backend) -> Result<Self> {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tune: impl FnOnce(&mut GatewayArgs)) -> Result<Self> {
        let server = ApiServer::in_memory();
        pdfx_devcluster::install_pdfx_crd(&server)
            .await
            .map_err(|e| anyhow::anyhow!("installing the CRD: {e}"))?;
        let cluster = pdfx_devcluster::start(server.clone(), "127.0.0.1:0").await?;
        let client = Client::try_from(kube::Config::new(cluster.url().parse()?))?;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        for tenant in TENANTS {
            let ns: Namespace = serde_json::from_value(serde_json::json!({
                "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": tenant}
            }))?;
            namespaces.create(&PostParams::default(), &ns).await?;
        }

        let (storage, storage_uri, s3) = match backend {
            Backend::Local => {
                let dir = tempfile::tempdir()?;
                let uri = StorageUri::from_path(&dir.path().join("data"))?;
                (Storage::Local(dir), uri, S3Config::default())
            }
            Backend::S3 => {
                let s3 = S3Server::start()?;
                s3.create_bucket("pdfx").await?;
                let uri = StorageUri::parse("s3://pdfx/base/")?;
                let config = s3.config();
                (Storage::S3(s3), uri, config)
            }
        };
        let (store, base) = Store::from_uri(&storage_uri, &s3).await?;

        let keys_dir = tempfile::tempdir()?;
        let keys_file = keys_dir.path().join("api-keys");
        std::fs::write(
            &keys_file,
            format!(
                "# test keys\n{}{}",
                key_line("team-a", KEY_A),
                key_line("team-b", KEY_B)
            ),
        )?;
        let mut args = GatewayArgs {
            api_keys_file: Some(keys_file.clone()),
            ..GatewayArgs::default()
        };
        tune(&mut args);
        if let Some((ns, name)) = args
            .api_keys_secret
            .as_deref()
            .and_then(|s| s.split_once('/'))
        {
            let secrets: Api<k8s_openapi::api::core::v1::Secret> =
                Api::namespaced(client.clone(), ns);
            let secret = serde_json::from_value(serde_json::json!({
                "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                "stringData": {"keys": format!("{}{}", key_line("team-a", KEY_A), key_line("team-b", KEY_B))}
            }))?;
            secrets.create(&PostParams::default(), &secret).await?;
        }
        let config = GatewayConfig::new(args, storage_uri.clone())?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let admin = Admin::new();
        let shutdown = Shutdown::new();
        let task = {
            let (client, s3, admin, shutdown) =
                (client.clone(), s3.clone(), admin.clone(), shutdown.clone());
            tokio::spawn(async move {
                if let Err(e) =
                    pdfx_gateway::run_with_listener(listener, client, config, s3, &admin, shutdown)
                        .await
                {
                    eprintln!("gateway stopped: {e}");
                }
            })
        };
        let gateway = Self {
            url,
            // No pooled connections: after a refused upload the server closes
            // its connection, and a reused one would race that close.
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()?,
            client,
            cluster: Some(cluster),
            server,
            storage: Some(storage),
            storage_uri,
            s3,
            store,
            base,
            admin,
            shutdown,
            keys_file,
            _keys_dir: keys_dir,
            task: Some(task),
        };
        gateway.wait_ready().await?;
        Ok(gateway)
    }

    pub async fn wait_ready(&self) -> Result<()> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Ok(r) = self.http.get(format!("{}/readyz", self.url)).send().await
                && r.status() == 200
            {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the gateway never became ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn get(&self, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(key)
    }

    /// A raw `application/pdf` upload.
    pub fn post_raw(&self, path: &str, key: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.url))
            .bearer_auth(key)
            .header("content-type", "application/pdf")
            .body(body)
    }

    /// A multipart upload with the file and option fields, in order.
    pub fn post_form(
        &self,
        key: &str,
        file: Vec<u8>,
        fields: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        let mut form = reqwest::multipart::Form::new();
        for (name, value) in fields {
            form = form.text(name.to_string(), value.to_string());
        }
        let part = reqwest::multipart::Part::bytes(file)
            .file_name("문서.pdf")
            .mime_str("application/pdf")
            .unwrap();
        form = form.part("file", part);
        self.http
            .post(format!("{}/extract/pdf", self.url))
            .bearer_auth(key)
            .multipart(form)
    }

    /// Submits a small PDF for a tenant and returns its task id.
    pub async fn submit(&self, key: &str) -> Result<String> {
        let response = self.post_raw("/extract/pdf", key, pdf(1000)).send().await?;
        anyhow::ensure!(response.status() == 202, "submit: {}", response.status());
        let body: Value = response.json().await?;
        Ok(body["task_id"].as_str().context("task_id")?.to_owned())
    }

    pub fn api(&self, tenant: &str) -> Api<PdfExtraction> {
        Api::namespaced(self.client.clone(), tenant)
    }

    /// Every PdfExtraction, as `namespace/name`.
    pub async fn resources(&self) -> Result<Vec<String>> {
        let api: Api<PdfExtraction> = Api::all(self.client.clone());
        let mut names: Vec<String> = api
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .map(|r| {
                format!(
                    "{}/{}",
                    r.metadata.namespace.unwrap_or_default(),
                    r.metadata.name.unwrap_or_default()
                )
            })
            .collect();
        names.sort();
        Ok(names)
    }

    /// Every stored object under the storage URL (keys relative to it).
    pub async fn objects(&self) -> Result<Vec<String>> {
        let prefix = if self.base.is_empty() {
            String::new()
        } else {
            format!("{}/", self.base.trim_end_matches('/'))
        };
        let listed = match self.store.list(&prefix).await {
            Ok(listed) => listed,
            Err(e) if e.is_not_found() => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        Ok(listed
            .into_iter()
            .map(|o| o.key[prefix.len()..].to_owned())
            .collect())
    }

    /// Patches the status of a task, as the operator would.
    pub async fn set_status(&self, tenant: &str, task_id: &str, status: Value) -> Result<()> {
        self.api(tenant)
            .patch_status(
                task_id,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({ "status": status })),
            )
            .await?;
        Ok(())
    }

    /// Writes the result objects of a task and marks it succeeded.
    pub async fn complete(&self, tenant: &str, task_id: &str, texts: &[&str]) -> Result<Value> {
        use pdfx_crd::result::{PageMethod, PageResult, ResultDocument};
        let mut document = ResultDocument::default();
        for (i, text) in texts.iter().enumerate() {
            let page = PageResult {
                page: i as u32 + 1,
                method: PageMethod::Ocr,
                text: (*text).to_owned(),
                confidence: Some(0.9),
                width_px: 10,
                height_px: 10,
                words: vec![],
                error: None,
            };
            document.summary.add_page(&page);
            document.pages.push(page);
        }
        let layout = pdfx_crd::layout::ExtractionLayout::for_resource(tenant, task_id);
        let json = serde_json::to_vec(&document)?;
        let written: Value = serde_json::from_slice(&json)?;
        let key = pdfx_storage::key::join(&self.base, &layout.result_json());
        self.store.put_bytes(&key, json.into(), None).await?;
        let key = pdfx_storage::key::join(&self.base, &layout.result_txt());
        self.store
            .put_bytes(&key, texts.join("\u{c}").into_bytes().into(), None)
            .await?;
        let location = self.storage_uri.join(&layout.result_json())?.to_string();
        let summary = serde_json::to_value(document.summary.to_status(location))?;
        self.set_status(
            tenant,
            task_id,
            serde_json::json!({"phase": "Succeeded", "result": summary,
                "completionTime": "2026-01-01T00:00:00Z"}),
        )
        .await?;
        Ok(written)
    }

    /// Polls the status until `check` holds (the watch delivers asynchronously).
    pub async fn status_until(
        &self,
        key: &str,
        task_id: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let body: Value = self
                .get(&format!("/extract/status/{task_id}"), key)
                .send()
                .await?
                .json()
                .await?;
            if check(&body) {
                return Ok(body);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "status never matched: {body}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A metric's value from `/metrics` (summed over label sets matching `labels`).
    pub async fn metric(&self, name: &str, labels: &str) -> Result<f64> {
        let text = self
            .http
            .get(format!("{}/metrics", self.url))
            .send()
            .await?
            .text()
            .await?;
        Ok(text
            .lines()
            .filter(|l| l.starts_with(name) && l.contains(labels))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    pub fn api_requests(&self) -> pdfx_devcluster::stats::RequestCounts {
        self.server.0.requests.counts()
    }

    pub async fn stop(mut self) {
        self.shutdown.trigger();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(WAIT, task).await;
        }
    }
}

/// The error body's code, asserting the documented shape.
pub async fn error_code(response: reqwest::Response) -> Result<(u16, String, Value)> {
    let status = response.status().as_u16();
    let body: Value = response.json().await.context("an error body is JSON")?;
    let code = body["error"]["code"]
        .as_str()
        .with_context(|| format!("no error.code in {body}"))?
        .to_owned();
    anyhow::ensure!(
        body["error"]["message"].is_string(),
        "no error.message in {body}"
    );
    Ok((status, code, body))
}

/// Runs a scenario once per storage backend.
#[macro_export]
macro_rules! both_backends {
    ($scenario:ident) => {
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn local_folder() -> anyhow::Result<()> {
                super::$scenario($crate::common::Backend::Local).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn s3() -> anyhow::Result<()> {
                super::$scenario($crate::common::Backend::S3).await
            }
        }
    };
}
