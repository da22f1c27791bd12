//! Every endpoint over HTTP against the emulator, on both storage backends.

mod common;

use std::time::Duration;

use anyhow::Result;
use common::{Backend, Gateway, KEY_A, KEY_B, error_code, pdf};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

/// A client written only from the seed's JSON: submit, poll `status` until
/// `completed`, read `result`; `processing` carries `progress`.
async fn seed_client_submits_polls_and_reads(backend: Backend) -> Result<()> {
    let gw = Gateway::start(backend).await?;
    let response = gw
        .post_form(
            KEY_A,
            pdf(5000),
            &[("languages", "kor+eng"), ("dpi", "200")],
        )
        .send()
        .await?;
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str()?.to_owned();
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await?;
    let task_id = body["task_id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(body["status"], "pending");
    assert!(body["message"].is_string());
    assert_eq!(location, format!("/extract/status/{task_id}"));

    // Read-your-writes: the very next poll knows the task.
    let first = gw.get(&location, KEY_A).send().await?;
    assert_eq!(first.status(), 200);
    assert!(first.headers().contains_key("retry-after"));
    let first: Value = first.json().await?;
    assert_eq!(first["status"], "pending");

    // The resource says what was asked, and the upload is where it points.
    let resource = gw.api("team-a").get(&task_id).await?;
    assert_eq!(resource.spec.ocr.languages, vec!["kor", "eng"]);
    assert_eq!(resource.spec.ocr.dpi, 200);
    let annotations = resource.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(annotations["pdfx.dev/original-filename"], "문서.pdf");
    assert_eq!(annotations["pdfx.dev/size-bytes"], "5000");
    use sha2::Digest as _;
    assert_eq!(
        annotations["pdfx.dev/sha256"],
        hex::encode(sha2::Sha256::digest(pdf(5000)))
    );
    let pdfx_crd::Source::Storage(source) = &resource.spec.source else {
        anyhow::bail!("not a storage source: {:?}", resource.spec.source);
    };
    assert_eq!(gw.objects().await?, vec![source.key.clone()]);

    gw.set_status(
        "team-a",
        &task_id,
        json!({"phase": "Running", "progress": {"pagesTotal": 4, "pagesDone": 1, "percent": 25}}),
    )
    .await?;
    let processing = gw
        .status_until(KEY_A, &task_id, |b| b["status"] == "processing")
        .await?;
    assert_eq!(processing["progress"], 25);
    assert_eq!(processing["pages_done"], 1);
    assert_eq!(processing["pages_total"], 4);

    // Korean when preferred.
    let korean: Value = gw
        .get(&location, KEY_A)
        .header("accept-language", "ko-KR,ko;q=0.9,en;q=0.5")
        .send()
        .await?
        .json()
        .await?;
    assert!(
        korean["message"]
            .as_str()
            .unwrap_or_default()
            .contains("처리 중"),
        "{korean}"
    );

    let document = gw
        .complete("team-a", &task_id, &["첫 쪽 안녕하세요", "second page"])
        .await?;
    let done = gw
        .status_until(KEY_A, &task_id, |b| b["status"] == "completed")
        .await?;
    assert_eq!(done["result"]["pages"], 2);
    assert_eq!(done["result"]["page_texts"][0]["text"], "첫 쪽 안녕하세요");
    assert_eq!(done["result_url"], format!("/extract/result/{task_id}"));
    let json_result: Value = gw
        .get(&format!("/extract/result/{task_id}"), KEY_A)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(json_result, document);
    let text = gw
        .get(&format!("/extract/result/{task_id}?format=text"), KEY_A)
        .send()
        .await?;
    assert_eq!(text.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(text.text().await?, "첫 쪽 안녕하세요\u{c}second page");
    gw.stop().await;
    Ok(())
}
both_backends!(seed_client_submits_polls_and_reads);

/// Status polls are answered from the cache: not one API-server request.
async fn status_polls_cost_no_api_requests(backend: Backend) -> Result<()> {
    let gw = Gateway::start(backend).await?;
    let task_id = gw.submit(KEY_A).await?;
    gw.status_until(KEY_A, &task_id, |b| b["status"] == "pending")
        .await?;
    let before = gw.api_requests();
    for _ in 0..200 {
        let r = gw
            .get(&format!("/extract/status/{task_id}"), KEY_A)
            .send()
            .await?;
        assert_eq!(r.status(), 200);
        let listed = gw.get("/extract", KEY_A).send().await?;
        assert_eq!(listed.status(), 200);
    }
    assert_eq!(gw.api_requests(), before);
    gw.stop().await;
    Ok(())
}
both_backends!(status_polls_cost_no_api_requests);

/// Every refusal has its status and code, and leaves no object and no resource.
async fn errors_leave_nothing_behind(backend: Backend) -> Result<()> {
    let gw = Gateway::start_with(backend, |a| a.max_upload_bytes = "1Mi".into()).await?;
    let url = gw.url.clone();
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "not a PDF",
            gw.post_raw("/extract/pdf", KEY_A, b"GIF89a not a pdf".to_vec()),
            415,
            "unsupported_media_type",
        ),
        (
            "empty body",
            gw.post_raw("/extract/pdf", KEY_A, Vec::new()),
            415,
            "unsupported_media_type",
        ),
        (
            "over the size limit",
            gw.post_raw("/extract/pdf", KEY_A, pdf(3 * 1024 * 1024)),
            413,
            "payload_too_large",
        ),
        (
            "multipart over the size limit",
            gw.post_form(KEY_A, pdf(3 * 1024 * 1024), &[]),
            413,
            "payload_too_large",
        ),
        (
            "bad dpi in the query",
            gw.post_raw("/extract/pdf?dpi=10", KEY_A, pdf(100)),
            400,
            "invalid_option",
        ),
        (
            "bad pages before the file",
            gw.post_form(KEY_A, pdf(100), &[("pages", "5-2")]),
            400,
            "invalid_option",
        ),
        (
            "wrong content type",
            gw.http
                .post(format!("{url}/extract/pdf"))
                .bearer_auth(KEY_A)
                .header("content-type", "text/plain")
                .body("hello"),
            415,
            "unsupported_media_type",
        ),
        (
            "no key",
            gw.http.post(format!("{url}/extract/pdf")).body(pdf(100)),
            401,
            "unauthorized",
        ),
        (
            "unknown key",
            gw.post_raw("/extract/pdf", "not-a-key", pdf(100)),
            401,
            "unauthorized",
        ),
        (
            "unknown task",
            gw.get("/extract/status/t0000", KEY_A),
            404,
            "not_found",
        ),
        ("unknown route", gw.get("/nothing", KEY_A), 404, "not_found"),
        (
            "bad list limit",
            gw.get("/extract?limit=0", KEY_A),
            400,
            "bad_request",
        ),
        (
            "bad idempotency key",
            gw.post_raw("/extract/pdf", KEY_A, pdf(100))
                .header("idempotency-key", "x".repeat(300)),
            400,
            "bad_request",
        ),
    ];
    for (what, request, status, code) in cases {
        let (got_status, got_code, body) = error_code(request.send().await?).await?;
        assert_eq!(
            (got_status, got_code.as_str()),
            (status, code),
            "{what}: {body}"
        );
        assert_eq!(gw.objects().await?, Vec::<String>::new(), "{what}");
        assert_eq!(gw.resources().await?, Vec::<String>::new(), "{what}");
    }

    // An option that comes after the file is checked after storing: the
    // upload is deleted again and the field is named.
    let mut form = reqwest::multipart::Form::new();
    form = form.part(
        "file",
        reqwest::multipart::Part::bytes(pdf(100)).file_name("a.pdf"),
    );
    form = form.text("dpi", "9000");
    let response = gw
        .http
        .post(format!("{url}/extract/pdf"))
        .bearer_auth(KEY_A)
        .multipart(form)
        .send()
        .await?;
    let (status, code, body) = error_code(response).await?;
    assert_eq!((status, code.as_str()), (400, "invalid_option"));
    assert_eq!(body["error"]["field"], "dpi");
    assert_eq!(gw.objects().await?, Vec::<String>::new());
    assert_eq!(gw.resources().await?, Vec::<String>::new());

    // No file field.
    let form = reqwest::multipart::Form::new().text("dpi", "300");
    let response = gw
        .http
        .post(format!("{url}/extract/pdf"))
        .bearer_auth(KEY_A)
        .multipart(form)
        .send()
        .await?;
    let (status, _, body) = error_code(response).await?;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "file");

    // Korean messages on request.
    let response = gw
        .post_raw("/extract/pdf", KEY_A, b"nope!".to_vec())
        .header("accept-language", "ko")
        .send()
        .await?;
    let (_, _, body) = error_code(response).await?;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("PDF가 아닙니다"),
        "{body}"
    );

    // 409 while unfinished, on a task that exists.
    let task_id = gw.submit(KEY_A).await?;
    let (status, code, _) = error_code(
        gw.get(&format!("/extract/result/{task_id}"), KEY_A)
            .send()
            .await?,
    )
    .await?;
    assert_eq!((status, code.as_str()), (409, "not_ready"));
    let (status, _, body) = error_code(
        gw.get(&format!("/extract/result/{task_id}?format=xml"), KEY_A)
            .send()
            .await?,
    )
    .await?;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "format");
    gw.set_status(
        "team-a",
        &task_id,
        json!({"phase": "Failed", "error": {"reason": "InvalidPdf", "message": "broken xref\nmore"}}),
    )
    .await?;
    let failed = gw
        .status_until(KEY_A, &task_id, |b| b["status"] == "failed")
        .await?;
    assert_eq!(failed["error_code"], "InvalidPdf");
    assert_eq!(failed["error_message"], "broken xref");
    let (status, _, _) = error_code(
        gw.get(&format!("/extract/result/{task_id}"), KEY_A)
            .send()
            .await?,
    )
    .await?;
    assert_eq!(status, 409);
    gw.stop().await;
    Ok(())
}
both_backends!(errors_leave_nothing_behind);

/// A tenant's unfinished tasks are capped; finishing one frees a place.
async fn per_tenant_quota(backend: Backend) -> Result<()> {
    let gw = Gateway::start_with(backend, |a| a.max_queued_per_tenant = 2).await?;
    let first = gw.submit(KEY_A).await?;
    gw.submit(KEY_A).await?;
    let response = gw.post_raw("/extract/pdf", KEY_A, pdf(100)).send().await?;
    assert!(response.headers().contains_key("retry-after"));
    let (status, code, _) = error_code(response).await?;
    assert_eq!((status, code.as_str()), (429, "too_many_tasks"));
    assert_eq!(gw.objects().await?.len(), 2);
    assert_eq!(gw.resources().await?.len(), 2);
    // Another tenant is not affected.
    gw.submit(KEY_B).await?;
    gw.complete("team-a", &first, &["done"]).await?;
    gw.status_until(KEY_A, &first, |b| b["status"] == "completed")
        .await?;
    gw.submit(KEY_A).await?;
    gw.stop().await;
    Ok(())
}
both_backends!(per_tenant_quota);

/// One tenant can never see, fetch, cancel or list another's tasks.
async fn tenants_are_isolated(backend: Backend) -> Result<()> {
    let gw = Gateway::start(backend).await?;
    let a = gw.submit(KEY_A).await?;
    gw.complete("team-a", &a, &["secret"]).await?;
    gw.status_until(KEY_A, &a, |b| b["status"] == "completed")
        .await?;
    for path in [
        format!("/extract/status/{a}"),
        format!("/extract/result/{a}"),
        format!("/extract/result/{a}?format=text"),
    ] {
        let (status, code, _) = error_code(gw.get(&path, KEY_B).send().await?).await?;
        assert_eq!((status, code.as_str()), (404, "not_found"), "{path}");
    }
    let cancel = gw
        .http
        .delete(format!("{}/extract/{a}", gw.url))
        .header("x-api-key", KEY_B)
        .send()
        .await?;
    assert_eq!(cancel.status(), 404);
    let listed: Value = gw.get("/extract", KEY_B).send().await?.json().await?;
    assert_eq!(listed["tasks"], json!([]));
    // X-API-Key works as well as Bearer.
    let own = gw
        .http
        .get(format!("{}/extract/status/{a}", gw.url))
        .header("x-api-key", KEY_A)
        .send()
        .await?;
    assert_eq!(own.status(), 200);
    assert_eq!(gw.resources().await?, vec![format!("team-a/{a}")]);
    gw.stop().await;
    Ok(())
}
both_backends!(tenants_are_isolated);

/// The key file is re-read when it changes: a new key works, a removed one stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_reload_when_the_file_changes() -> Result<()> {
    let gw = Gateway::start(Backend::Local).await?;
    let new_key = "a-new-key-for-team-b-fedcba987654";
    assert_eq!(gw.get("/extract", new_key).send().await?.status(), 401);
    std::fs::write(&gw.keys_file, common::key_line("team-b", new_key))?;
    let deadline = tokio::time::Instant::now() + common::WAIT;
    while gw.get("/extract", new_key).send().await?.status() != 200 {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the new key never worked"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(gw.get("/extract", KEY_A).send().await?.status(), 401);
    // A broken file keeps the keys in force.
    std::fs::write(&gw.keys_file, "team-b not-a-hash\n")?;
    tokio::time::sleep(pdfx_gateway::auth::FILE_POLL * 2).await;
    assert_eq!(gw.get("/extract", new_key).send().await?.status(), 200);
    gw.stop().await;
    Ok(())
}

/// `DELETE` cancels: the resource goes, the task is unknown afterwards.
async fn cancel_deletes_the_task(backend: Backend) -> Result<()> {
    let gw = Gateway::start(backend).await?;
    let task_id = gw.submit(KEY_A).await?;
    let response = gw
        .http
        .delete(format!("{}/extract/{task_id}", gw.url))
        .bearer_auth(KEY_A)
        .send()
        .await?;
    assert_eq!(response.status(), 204);
    assert_eq!(gw.resources().await?, Vec::<String>::new());
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        let r = gw
            .get(&format!("/extract/status/{task_id}"), KEY_A)
            .send()
            .await?;
        if r.status() == 404 {
            break;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "still there");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let again = gw
        .http
        .delete(format!("{}/extract/{task_id}", gw.url))
        .bearer_auth(KEY_A)
        .send()
        .await?;
    assert_eq!(again.status(), 404);
    gw.stop().await;
    Ok(())
}
both_backends!(cancel_deletes_the_task);

/// `GET /extract`: newest first, pages with `continue`, a `status` filter.
async fn list_pages_newest_first(backend: Backend) -> Result<()> {
    let gw = Gateway::start(backend).await?;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(gw.submit(KEY_A).await?);
    }
    gw.set_status("team-a", &ids[0], json!({"phase": "Running"}))
        .await?;
    gw.status_until(KEY_A, &ids[0], |b| b["status"] == "processing")
        .await?;
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let path = match &token {
            Some(t) => format!("/extract?limit=2&continue={t}"),
            None => "/extract?limit=2".to_owned(),
        };
        let page: Value = gw.get(&path, KEY_A).send().await?.json().await?;
        let tasks = page["tasks"].as_array().cloned().unwrap_or_default();
        assert!(tasks.len() <= 2);
        seen.extend(tasks);
        match page["continue"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    let seen_ids: Vec<String> = seen
        .iter()
        .map(|t| t["task_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let mut sorted = seen_ids.clone();
    sorted.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(sorted, expected);
    let created: Vec<String> = seen
        .iter()
        .map(|t| t["created_at"].as_str().unwrap_or_default().to_owned())
        .collect();
    let mut newest_first = created.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(created, newest_first);
    let processing: Value = gw
        .get("/extract?status=processing", KEY_A)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(processing["tasks"].as_array().map(Vec::len), Some(1));
    assert_eq!(processing["tasks"][0]["task_id"], ids[0].as_str());
    let (status, _, body) = error_code(gw.get("/extract?status=odd", KEY_A).send().await?).await?;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "status");
    gw.stop().await;
    Ok(())
}
both_backends!(list_pages_newest_first);

/// `?wait=N` answers as soon as the watch shows a change, not at the deadline.
async fn long_poll_wakes_on_a_status_change(backend: Backend) -> Result<()> {
    let gw = Gateway::start_with(backend, |a| a.max_wait = Duration::from_secs(600)).await?;
    let task_id = gw.submit(KEY_A).await?;
    gw.status_until(KEY_A, &task_id, |b| b["status"] == "pending")
        .await?;
    let started = tokio::time::Instant::now();
    let poll = gw
        .get(&format!("/extract/status/{task_id}?wait=600"), KEY_A)
        .send();
    let poll = tokio::spawn(poll);
    tokio::time::sleep(Duration::from_millis(300)).await;
    gw.set_status(
        "team-a",
        &task_id,
        json!({"phase": "Running", "progress": {"pagesTotal": 2, "pagesDone": 1, "percent": 50}}),
    )
    .await?;
    let body: Value = tokio::time::timeout(common::WAIT, poll)
        .await???
        .json()
        .await?;
    assert_eq!(body["status"], "processing");
    assert_eq!(body["progress"], 50);
    // Woken by the change: the 600 s wait had not run out.
    assert!(started.elapsed() < Duration::from_secs(600));
    gw.stop().await;
    Ok(())
}
both_backends!(long_poll_wakes_on_a_status_change);
