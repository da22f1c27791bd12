// The console's only way out: the gateway's public REST API, with the key
// from this tab's session storage in an Authorization header (never in a URL).
'use strict';

window.PDFX_REST = (() => {
  const KEY = 'pdfx.apiKey'; // sessionStorage only: gone when the tab closes
  const hooks = {
    language: () => 'en',
    unauthorized: () => {},
    networkMessage: () => 'The gateway could not be reached.',
  };

  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  const key = () => sessionStorage.getItem(KEY);
  const setKey = (value) => sessionStorage.setItem(KEY, value);
  const forgetKey = () => sessionStorage.removeItem(KEY);

  function headers() {
    const h = { 'Accept-Language': hooks.language() };
    if (key()) h.Authorization = `Bearer ${key()}`;
    return h;
  }

  // The gateway's `{"error": {"code", "message"}}`, or the HTTP status text.
  function errorOf(status, statusText, body) {
    const error = (body && body.error) || {};
    return new ApiError(status, error.code || '', error.message || statusText);
  }

  async function call(path, options = {}) {
    let response;
    try {
      response = await fetch(path, { ...options, headers: headers(), cache: 'no-store' });
    } catch {
      throw new ApiError(0, 'network', hooks.networkMessage());
    }
    if (response.ok) return response;
    let body = null;
    try { body = await response.json(); } catch { /* not JSON */ }
    const error = errorOf(response.status, response.statusText, body);
    if (response.status === 401) hooks.unauthorized();
    throw error;
  }

  const json = async (path, options) => (await call(path, options)).json();
  const task = (id) => encodeURIComponent(id);

  // POST /extract/pdf as a form, through XMLHttpRequest for its upload
  // progress events: `progress(percent)`; resolves to the 202 body.
  function submit(file, fields, progress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', '/extract/pdf');
      for (const [k, v] of Object.entries(headers())) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) progress(Math.floor((100 * e.loaded) / e.total));
      };
      xhr.onload = () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
        if (xhr.status === 202 && body && body.task_id) { resolve(body); return; }
        if (xhr.status === 401) hooks.unauthorized();
        reject(errorOf(xhr.status, xhr.statusText, body));
      };
      xhr.onerror = () => reject(new ApiError(0, 'network', hooks.networkMessage()));
      const form = new FormData();
      // Options first: the gateway checks them before it stores the file.
      for (const [k, v] of Object.entries(fields)) form.append(k, v);
      form.append('file', file, file.name);
      xhr.send(form);
    });
  }

  return {
    ApiError, hooks, key, setKey, forgetKey,
    list: (query) => json(`/extract?${query}`),
    status: (id, wait) => json(`/extract/status/${task(id)}${wait ? `?wait=${wait}` : ''}`),
    result: (id, format) => call(`/extract/result/${task(id)}?format=${format}`),
    cancel: (id) => call(`/extract/${task(id)}`, { method: 'DELETE' }),
    submit,
    taskHref: (id) => `#/task/${task(id)}`,
  };
})();
