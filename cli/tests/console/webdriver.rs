//! Just enough of the W3C WebDriver protocol, over reqwest, to drive Debian's
//! Chromium through chromedriver: a session, elements, scripts, screenshots.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// The key W3C WebDriver names an element reference by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where Debian's packages put the browser and its driver.
fn find_program(candidates: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in candidates {
        for dir in std::env::split_paths(&path) {
            let full = dir.join(name);
            if full.is_file() {
                return Some(full);
            }
        }
    }
    None
}

/// The browser and chromedriver, or an error saying how to install them.
pub fn programs() -> Result<(PathBuf, PathBuf)> {
    let browser = find_program(&["chromium", "chromium-browser"]);
    let driver = find_program(&["chromedriver"]);
    match (browser, driver) {
        (Some(b), Some(d)) => Ok((b, d)),
        _ => bail!(
            "the console tests need Chromium and chromedriver (Debian packages `chromium` \
             and `chromium-driver`): run scripts/install-deps.sh"
        ),
    }
}

/// A running chromedriver on a free local port.
pub struct Driver {
    _child: Child,
    url: String,
    http: reqwest::Client,
}

impl Driver {
    pub async fn start(driver: &Path) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", driver.display()))?;
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let ready = tokio::time::timeout(crate::common::WAIT, async {
            loop {
                if let Ok(r) = http.get(format!("{url}/status")).send().await
                    && let Ok(v) = r.json::<Value>().await
                    && v["value"]["ready"] == true
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        if ready.is_err() {
            bail!("chromedriver did not become ready on port {port}");
        }
        Ok(Self {
            _child: child,
            url,
            http,
        })
    }

    /// A headless Chromium that downloads into `downloads` without asking.
    /// `languages` is what the browser tells pages (`navigator.languages`), e.g. `en-US,en`.
    pub async fn session(
        &self,
        browser: &Path,
        downloads: &Path,
        languages: &str,
    ) -> Result<Session> {
        let lang_flag = format!("--lang={}", languages.split(',').next().unwrap_or("en-US"));
        let mut args = vec![
            "--headless=new",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            lang_flag.as_str(),
            "--window-size=1280,1000",
        ];
        // Chromium's sandbox refuses to run as root, which the test machines are.
        args.push("--no-sandbox");
        let capabilities = json!({
            "capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": browser,
                    "args": args,
                    "prefs": {
                        "download.default_directory": downloads,
                        "download.prompt_for_download": false,
                        "intl.accept_languages": languages,
                    },
                },
                "goog:loggingPrefs": {"browser": "ALL"},
            }}
        });
        let answer = send(
            self.http.post(format!("{}/session", self.url)),
            Some(capabilities),
        )
        .await?;
        let id = answer["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("no session id in {answer}"))?;
        Ok(Session {
            base: format!("{}/session/{id}", self.url),
            http: self.http.clone(),
        })
    }
}

async fn send(request: reqwest::RequestBuilder, body: Option<Value>) -> Result<Value> {
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    let response = request.send().await.context("calling chromedriver")?;
    let status = response.status();
    let body: Value = response.json().await.context("chromedriver's answer")?;
    if !status.is_success() {
        bail!(
            "chromedriver answered {status}: {} {}",
            body["value"]["error"],
            body["value"]["message"]
        );
    }
    Ok(body["value"].clone())
}

/// One browser session.
pub struct Session {
    base: String,
    http: reqwest::Client,
}

impl Session {
    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        send(self.http.post(format!("{}{path}", self.base)), Some(body)).await
    }

    async fn get(&self, path: &str) -> Result<Value> {
        send(self.http.get(format!("{}{path}", self.base)), None).await
    }

    pub async fn goto(&self, url: &str) -> Result<()> {
        self.post("/url", json!({ "url": url })).await.map(drop)
    }

    pub async fn set_window(&self, width: u32, height: u32) -> Result<()> {
        self.post("/window/rect", json!({ "width": width, "height": height }))
            .await
            .map(drop)
    }

    pub async fn find(&self, css: &str) -> Result<String> {
        let found = self
            .post("/element", json!({ "using": "css selector", "value": css }))
            .await
            .with_context(|| format!("finding {css}"))?;
        found[ELEMENT]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no element reference for {css}: {found}"))
    }

    /// Clicks the element; found again if the page replaced it in between.
    pub async fn click(&self, css: &str) -> Result<()> {
        let mut tries = 0;
        loop {
            let id = self.find(css).await?;
            match self.post(&format!("/element/{id}/click"), json!({})).await {
                Ok(_) => return Ok(()),
                Err(e) if tries < 5 && format!("{e}").contains("stale element") => tries += 1,
                Err(e) => return Err(e.context(format!("clicking {css}"))),
            }
        }
    }

    /// Types `text` into the element, as a keyboard would; for a file input, `text` is a path.
    pub async fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let id = self.find(css).await?;
        self.post(&format!("/element/{id}/value"), json!({ "text": text }))
            .await
            .with_context(|| format!("typing into {css}"))
            .map(drop)
    }

    pub async fn text(&self, css: &str) -> Result<String> {
        let id = self.find(css).await?;
        let text = self.get(&format!("/element/{id}/text")).await?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    /// Runs `body` (a function body: use `return`) in the page.
    pub async fn run(&self, body: &str, args: Value) -> Result<Value> {
        self.post("/execute/sync", json!({ "script": body, "args": args }))
            .await
    }

    /// Re-runs `body` until it returns something other than null or false.
    pub async fn wait_for(&self, what: &str, body: &str, args: Value) -> Result<Value> {
        let waited = tokio::time::timeout(crate::common::WAIT, async {
            loop {
                let value = self.run(body, args.clone()).await?;
                if !value.is_null() && value != Value::Bool(false) {
                    return Ok::<Value, anyhow::Error>(value);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await;
        match waited {
            Ok(value) => value,
            Err(_) => {
                let page = self
                    .run("return document.body.innerText;", json!([]))
                    .await
                    .unwrap_or_default();
                bail!(
                    "waited {:?} for {what}; the page shows:\n{}",
                    crate::common::WAIT,
                    page.as_str().unwrap_or_default()
                )
            }
        }
    }

    pub async fn screenshot(&self, to: &Path) -> Result<()> {
        let data = self.get("/screenshot").await?;
        let png = decode_base64(data.as_str().unwrap_or_default())?;
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(to, png).with_context(|| format!("writing {}", to.display()))
    }

    /// The browser console's messages so far (chromedriver's log endpoint).
    pub async fn console_log(&self) -> Result<Vec<String>> {
        let entries = self.post("/se/log", json!({ "type": "browser" })).await?;
        Ok(entries
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|e| format!("{} {}", e["level"], e["message"]))
                    .collect()
            })
            .unwrap_or_default())
    }

    pub async fn close(self) -> Result<()> {
        send(self.http.delete(&self.base), None).await.map(drop)
    }
}

/// Standard base64 (screenshots come as such); no crate needed for this much.
fn decode_base64(text: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for byte in text.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\n' | b'\r' => continue,
            _ => bail!("not base64: {:?}", byte as char),
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

#[test]
fn base64_decodes() -> Result<()> {
    assert_eq!(decode_base64("aGVsbG8gd29ybGQ=")?, b"hello world");
    assert_eq!(decode_base64("YQ==")?, b"a");
    Ok(())
}
