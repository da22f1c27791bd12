//! The web console in a real browser: Debian's Chromium, headless, through
//! chromedriver, against `pdfx up` in a temporary folder. Screenshots land in
//! the target dir (`console-screenshots/`); with PDFX_CONSOLE_DOCS=1 the
//! README's copies in docs/ are refreshed too.

mod common;
#[path = "console/webdriver.rs"]
mod webdriver;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use common::{Up, WAIT};
use pdfx_ocr_runner::metrics::character_error_rate;
use pdfx_ocr_runner::sample::{SampleKind, SampleLanguage, SampleSpec, page_text, write_sample};
use serde_json::{Value, json};
use webdriver::{Driver, Session};

fn sample(dir: &Path, name: &str, pages: u32, kind: SampleKind) -> Result<PathBuf> {
    let path = dir.join(name);
    write_sample(
        &path,
        &SampleSpec::new(pages, kind, SampleLanguage::English),
    )?;
    Ok(path)
}

fn artifacts() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots")
}

async fn screenshot(browser: &Session, name: &str) -> Result<()> {
    let path = artifacts().join(name);
    browser.screenshot(&path).await?;
    eprintln!("screenshot: {}", path.display());
    let for_readme = matches!(name, "console-tasks.png" | "console-task.png");
    if for_readme && std::env::var_os("PDFX_CONSOLE_DOCS").is_some_and(|v| v == "1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../docs")
            .join(name);
        std::fs::copy(&path, &docs).with_context(|| format!("copying to {}", docs.display()))?;
    }
    Ok(())
}

async fn open(up: &Up, downloads: &Path, languages: &str) -> Result<(Driver, Session)> {
    let (chromium, chromedriver) = webdriver::programs()?;
    let driver = Driver::start(&chromedriver).await?;
    let browser = driver.session(&chromium, downloads, languages).await?;
    browser.goto(&format!("{}/", up.url)).await?;
    Ok((driver, browser))
}

/// Chooses `pdf` in the drop zone's file input and presses Upload; returns
/// the task id once the upload bar reached 100 % and the gateway accepted it.
async fn upload(browser: &Session, pdf: &Path) -> Result<String> {
    browser
        .type_into("#file", &pdf.display().to_string())
        .await?;
    browser.click("#upload-button").await?;
    let name = pdf.file_name().map(|n| n.to_string_lossy().into_owned());
    let accepted = browser
        .wait_for(
            "the upload to be accepted",
            "const li = [...document.querySelectorAll('#uploads li')].find(l => l.dataset.file === arguments[0]);
             if (!li) return null;
             if (li.dataset.state === 'failed') return {failed: li.innerText};
             return li.dataset.state === 'accepted' ? {task: li.dataset.taskId, progress: li.dataset.progress} : null;",
            json!([name]),
        )
        .await?;
    if let Some(failed) = accepted.get("failed") {
        bail!("the upload failed: {failed}");
    }
    ensure!(accepted["progress"] == "100", "upload bar: {accepted}");
    Ok(accepted["task"].as_str().unwrap_or_default().to_owned())
}

async fn wait_row_state(browser: &Session, task: &str, state: &str) -> Result<Value> {
    browser
        .wait_for(
            &format!("task {task} to be {state} in the list"),
            "const row = [...document.querySelectorAll('#task-rows tr')].find(r => r.dataset.taskId === arguments[0]);
             if (!row || row.dataset.state !== arguments[1]) return null;
             return {progress: row.querySelector('progress').value, text: row.innerText};",
            json!([task, state]),
        )
        .await
}

async fn wait_view_state(browser: &Session, state: &str) -> Result<Value> {
    browser
        .wait_for(
            &format!("the task view to show {state}"),
            "const v = document.getElementById('task-view');
             return !v.hidden && v.dataset.state === arguments[0] ? v.innerText : null;",
            json!([state]),
        )
        .await
}

fn lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

/// Waits for a finished download (Chromium writes `*.crdownload` until then).
async fn downloaded(dir: &Path, name: &str) -> Result<String> {
    let path = dir.join(name);
    tokio::time::timeout(WAIT, async {
        loop {
            let partial = std::fs::read_dir(dir)?
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".crdownload"));
            if path.is_file() && !partial {
                return std::fs::read_to_string(&path).context("reading the download");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .with_context(|| format!("{} was not downloaded", path.display()))?
}

/// Upload a two-page PDF (one text-layer page, one scanned), watch it reach
/// 100 %, read its text page by page, download the .txt; then cancel a
/// 30-page scan while it runs and see it end as cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_watch_read_download_and_cancel_in_a_browser() -> Result<()> {
    let work = tempfile::tempdir()?;
    let docs = tempfile::tempdir()?;
    let downloads = tempfile::tempdir()?;
    let report = sample(docs.path(), "report.pdf", 2, SampleKind::Mixed)?;
    let long = sample(docs.path(), "long-scan.pdf", 30, SampleKind::Scanned)?;
    let up = Up::start(work.path(), &[]).await;
    let (_driver, browser) = open(&up, downloads.path(), "en-US,en").await?;

    browser
        .wait_for(
            "the console to load",
            "return document.getElementById('tasks-title').innerText === 'Tasks' && !document.getElementById('no-tasks').hidden;",
            json!([]),
        )
        .await?;
    let task = upload(&browser, &report).await?;
    let row = wait_row_state(&browser, &task, "completed").await?;
    ensure!(row["progress"] == 100, "the list's bar at the end: {row}");
    ensure!(
        row["text"]
            .as_str()
            .unwrap_or_default()
            .contains("report.pdf"),
        "{row}"
    );

    browser
        .click(&format!("#task-rows tr[data-task-id=\"{task}\"] a"))
        .await?;
    wait_view_state(&browser, "completed").await?;
    let focused = browser
        .run("return document.activeElement.id;", json!([]))
        .await?;
    ensure!(
        focused == "task-title",
        "the view takes the focus: {focused}"
    );
    let pages = browser
        .wait_for(
            "the pages' text",
            "const v = document.getElementById('task-view');
             if (v.dataset.pagesShown !== 'yes') return null;
             return [...document.querySelectorAll('#page-list li')].map(li => ({
               page: li.dataset.page, method: li.dataset.method,
               heading: li.querySelector('h3').innerText, text: li.querySelector('pre').textContent}));",
            json!([]),
        )
        .await?;
    let pages = pages.as_array().cloned().unwrap_or_default();
    ensure!(pages.len() == 2, "two pages: {pages:?}");
    let text_of = |i: usize| pages[i]["text"].as_str().unwrap_or_default().to_owned();
    ensure!(pages[0]["method"] == "text-layer", "{:?}", pages[0]);
    ensure!(
        lines(&text_of(0)) == lines(&page_text(SampleLanguage::English, 1)),
        "page 1 reads {:?}",
        text_of(0)
    );
    ensure!(pages[1]["method"] == "ocr", "{:?}", pages[1]);
    ensure!(
        pages[1]["heading"]
            .as_str()
            .unwrap_or_default()
            .contains("confidence"),
        "{:?}",
        pages[1]
    );
    let cer = character_error_rate(&page_text(SampleLanguage::English, 2), &text_of(1));
    ensure!(cer <= 0.02, "page 2 (OCR) CER {cer}: {:?}", text_of(1));
    ensure!(browser.text("#s-pages").await? == "2");
    ensure!(browser.text("#s-ocr").await? == "1");
    ensure!(browser.text("#s-text").await? == "1");
    screenshot(&browser, "console-task.png").await?;

    browser.click("#download-txt").await?;
    let txt = downloaded(downloads.path(), "report.txt").await?;
    let expected = up
        .http
        .get(format!("{}/extract/result/{task}?format=text", up.url))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    ensure!(txt == expected, "the download differs from the REST result");
    browser.click("#download-json").await?;
    let document: Value =
        serde_json::from_str(&downloaded(downloads.path(), "report.json").await?)?;
    ensure!(
        document["pages"].as_array().map(Vec::len) == Some(2),
        "report.json: {document}"
    );

    // The interface switches to Korean and back.
    browser.click("#lang option[value=\"ko\"]").await?;
    ensure!(browser.text("#download-txt").await? == ".txt 내려받기");
    browser.click("#lang option[value=\"en\"]").await?;

    browser.click("#back").await?;
    let long_task = upload(&browser, &long).await?;
    browser
        .click(&format!("#task-rows tr[data-task-id=\"{long_task}\"] a"))
        .await?;
    // Progress arrives by long poll while the scan runs; cancel mid-way.
    browser
        .wait_for(
            "a page of the long scan to be done",
            "const v = document.getElementById('task-view');
             return v.dataset.state === 'processing' && Number(v.dataset.pagesDone) >= 1
               ? document.getElementById('task-progress-text').innerText : null;",
            json!([]),
        )
        .await?;
    ensure!(
        browser
            .text("#task-progress-text")
            .await?
            .contains("/ 30 pages"),
        "the view counts the pages"
    );
    browser.click("#cancel").await?;
    let view = wait_view_state(&browser, "cancelled").await?;
    ensure!(
        view.as_str()
            .unwrap_or_default()
            .contains("The task was cancelled"),
        "{view}"
    );
    // What the gateway says now: gone, or failed as cancelled.
    let status = up
        .http
        .get(format!("{}/extract/status/{long_task}", up.url))
        .send()
        .await?;
    if status.status() != reqwest::StatusCode::NOT_FOUND {
        let body: Value = status.json().await?;
        ensure!(body["error_code"] == "Cancelled", "{body}");
    }
    browser.click("#back").await?;
    wait_row_state(&browser, &long_task, "cancelled").await?;
    screenshot(&browser, "console-tasks.png").await?;

    // What is not a PDF is refused at upload, with the gateway's own message.
    let not_pdf = docs.path().join("notes.pdf");
    std::fs::write(&not_pdf, "just some text, not a PDF\n")?;
    browser
        .type_into("#file", &not_pdf.display().to_string())
        .await?;
    browser.click("#upload-button").await?;
    let refused = browser
        .wait_for(
            "the refusal of notes.pdf",
            "const li = [...document.querySelectorAll('#uploads li')].find(l => l.dataset.file === 'notes.pdf');
             return li && li.dataset.state === 'failed' ? li.innerText : null;",
            json!([]),
        )
        .await?;
    ensure!(
        refused
            .as_str()
            .unwrap_or_default()
            .contains("upload failed: the upload is not a PDF"),
        "{refused}"
    );

    // A damaged PDF is accepted, then fails: the list shows why.
    let garbage: Vec<u8> = b"%PDF-1.7\n"
        .iter()
        .copied()
        .chain((0..20_000u32).map(|i| (i * 7919 % 251) as u8))
        .collect();
    let damaged = docs.path().join("damaged.pdf");
    std::fs::write(&damaged, garbage)?;
    let damaged_task = upload(&browser, &damaged).await?;
    let row = wait_row_state(&browser, &damaged_task, "failed").await?;
    let status = up.status(&damaged_task).await;
    let why = status.error_message.unwrap_or_default();
    ensure!(!why.is_empty(), "the gateway gives a reason");
    ensure!(
        row["text"].as_str().unwrap_or_default().contains(&why),
        "the row shows {why:?}: {row}"
    );

    // Readable on a narrow window.
    browser.set_window(420, 900).await?;
    screenshot(&browser, "console-narrow.png").await?;
    // No script error and nothing the page's policy refused: the only
    // complaint is the refused upload of notes.pdf.
    let log = browser.console_log().await?;
    eprintln!("the browser's console: {log:#?}");
    let unexpected: Vec<_> = log
        .iter()
        .filter(|m| m.contains("SEVERE") || m.contains("Content Security Policy"))
        .filter(|m| !(m.contains("/extract/pdf - Failed to load resource") && m.contains(" 415 ")))
        .collect();
    ensure!(
        unexpected.is_empty(),
        "the browser's console: {unexpected:?}"
    );
    browser.close().await?;
    Ok(())
}

/// `printf %s KEY | sha256sum`, as the key file format says.
fn sha256_hex(key: &str) -> Result<String> {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .context("sha256sum's stdin")?
        .write_all(key.as_bytes())?;
    let out = child.wait_with_output()?;
    let text = String::from_utf8(out.stdout)?;
    Ok(text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned())
}

/// With auth on, the console asks for a key; a wrong one is refused with a
/// clear message, the right one lists and runs the tenant's tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_auth_on_a_wrong_key_is_refused_and_the_right_one_works() -> Result<()> {
    let work = tempfile::tempdir()?;
    let docs = tempfile::tempdir()?;
    let downloads = tempfile::tempdir()?;
    let key = "console-test-7f3a9c1e5b2d4a6f8e0c1b3d5f7a9e2c";
    let keys = docs.path().join("keys");
    std::fs::write(
        &keys,
        format!("default sha256:{}  console test\n", sha256_hex(key)?),
    )?;
    let keys_arg = keys.display().to_string();
    let up = Up::start(work.path(), &["--api-keys-file", &keys_arg]).await;
    // A Korean browser: the console speaks Korean without being told.
    let (_driver, browser) = open(&up, downloads.path(), "ko-KR,ko").await?;

    browser
        .wait_for(
            "the key prompt",
            "return !document.getElementById('auth').hidden && document.getElementById('auth-message').dataset.reason === 'needed';",
            json!([]),
        )
        .await?;
    browser.type_into("#api-key", "not-the-key").await?;
    browser.click("#auth-submit").await?;
    browser
        .wait_for(
            "the refusal",
            "return document.getElementById('auth-message').dataset.reason === 'refused';",
            json!([]),
        )
        .await?;
    let message = browser.text("#auth-message").await?;
    ensure!(
        message == "게이트웨이가 이 API 키를 받아들이지 않았습니다. 키를 확인하고 다시 시도하세요.",
        "{message}"
    );
    let kept = browser
        .run("return sessionStorage.getItem('pdfx.apiKey');", json!([]))
        .await?;
    ensure!(kept.is_null(), "a refused key is not kept: {kept}");

    ensure!(browser.text("#auth-title").await? == "API 키");
    // From the keyboard: the key, then Enter.
    browser
        .type_into("#api-key", &format!("{key}\u{E007}"))
        .await?;
    browser
        .wait_for(
            "the console behind the key",
            "return document.getElementById('auth').hidden && !document.getElementById('app').hidden;",
            json!([]),
        )
        .await?;
    let pdf = sample(docs.path(), "digital.pdf", 1, SampleKind::Text)?;
    let task = upload(&browser, &pdf).await?;
    let row = wait_row_state(&browser, &task, "completed").await?;
    ensure!(
        row["text"].as_str().unwrap_or_default().contains("완료"),
        "{row}"
    );
    let url = browser.run("return location.href;", json!([])).await?;
    ensure!(
        !url.as_str().unwrap_or_default().contains(key),
        "the key is never in a URL: {url}"
    );
    browser.close().await?;
    Ok(())
}
