// techradar page: lists the techs, adds one through the API, refreshes by polling.
// Plain JavaScript on purpose: the binary serves it as is, with no build step.
"use strict";

// Access control (AUTH_MODE=apikey), kept apart from the page's logic: every
// request to the service goes through this fetch. A request refused with 401
// asks for an API key (a write always, a read once per page load, so that
// polling never nags), which is kept in sessionStorage for this tab only and
// sent as Authorization: Bearer on every later request, reads included.
(() => {
  const storageKey = "techradar.apiKey";
  const plainFetch = window.fetch.bind(window);
  let askedOnRead = false;

  const storedKey = () => {
    try {
      return sessionStorage.getItem(storageKey) || "";
    } catch {
      return "";
    }
  };
  const askForKey = () => {
    const key = (window.prompt("This service needs an API key (made with `techradar apikey create`). It is kept for this tab only.") || "").trim();
    try {
      if (key) sessionStorage.setItem(storageKey, key);
      else sessionStorage.removeItem(storageKey);
    } catch {
      // Storage refused (private mode): the key is used for this request only.
    }
    return key;
  };
  const withKey = (init, key) => {
    const headers = new Headers((init && init.headers) || {});
    if (key) headers.set("Authorization", `Bearer ${key}`);
    return { ...(init || {}), headers };
  };

  window.fetch = async (input, init) => {
    const url = new URL(typeof input === "string" ? input : input.url, window.location.href);
    if (url.origin !== window.location.origin) return plainFetch(input, init); // a key never leaves its service
    const response = await plainFetch(input, withKey(init, storedKey()));
    if (response.status !== 401) return response;
    const method = ((init && init.method) || "GET").toUpperCase();
    if (method === "GET" || method === "HEAD") {
      if (askedOnRead) return response;
      askedOnRead = true;
    }
    const key = askForKey();
    return key ? plainFetch(input, withKey(init, key)) : response;
  };
})();

(() => {
  const refreshEvery = 1500; // ms between two reads of the list
  const listLimit = 500; // the API's largest page
  const commandWatchFor = 15000; // ms a submitted command is followed before giving up

  const $ = (id) => document.getElementById(id);
  const form = $("tech-form");
  const nameInput = $("tech-name");
  const submitButton = $("tech-submit");
  const nameError = $("name-error");
  const formStatus = $("form-status");
  const liveState = $("live-state");
  const liveText = $("live-text");
  const cacheState = $("cache-state");
  const cacheText = $("cache-text");
  const tbody = $("tech-list");
  const table = $("tech-table");
  const emptyState = $("empty-state");
  const listError = $("list-error");
  const summary = $("list-summary");

  const rows = new Map(); // tech id -> { tr, mentions }
  let pollTimer = null;
  let polling = false;
  let firstRender = true;

  const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  function ago(iso) {
    const seconds = Math.round((Date.parse(iso) - Date.now()) / 1000);
    const abs = Math.abs(seconds);
    if (abs < 5) return "just now";
    if (abs < 60) return relative.format(seconds, "second");
    if (abs < 3600) return relative.format(Math.round(seconds / 60), "minute");
    if (abs < 86400) return relative.format(Math.round(seconds / 3600), "hour");
    return relative.format(Math.round(seconds / 86400), "day");
  }

  // apiError reads the API's error shape, {"error": {"code", "message", "field"}},
  // and falls back to the HTTP status for anything else (a proxy's HTML page).
  async function apiError(response) {
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) return body.error;
    } catch (_) { /* not JSON */ }
    return { code: "http_" + response.status, message: `The service answered ${response.status} ${response.statusText}`.trim() };
  }

  function setLive(state, text) {
    liveState.dataset.state = state;
    liveText.textContent = text;
  }

  function setCached(isCached) {
    cacheState.dataset.cached = String(isCached);
    cacheText.textContent = isCached ? "From cache" : "From database";
  }

  function cell(className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    return td;
  }

  function newRow(tech) {
    const tr = document.createElement("tr");
    tr.dataset.id = tech.id;
    const name = cell("name");
    const prio = cell("prio");
    const badge = document.createElement("span");
    prio.append(badge);
    const mentions = cell("num");
    const count = document.createElement("span");
    count.className = "count";
    const unit = document.createElement("span");
    unit.className = "unit"; // shown on phones, where the column has no heading
    mentions.append(count, unit);
    const when = cell("when");
    const time = document.createElement("time");
    when.append(time);
    tr.append(name, prio, mentions, when);
    return tr;
  }

  function fillRow(tr, tech) {
    const [name, prio, mentions, when] = tr.children;
    tr.dataset.name = tech.name;
    tr.dataset.priority = tech.priority;
    name.textContent = tech.name;
    const badge = prio.firstChild;
    badge.className = "priority priority-" + tech.priority;
    badge.textContent = tech.priority;
    mentions.firstChild.textContent = String(tech.mentions);
    mentions.lastChild.textContent = tech.mentions === 1 ? " mention" : " mentions";
    const time = when.firstChild;
    time.dateTime = tech.updatedAt;
    time.title = new Date(tech.updatedAt).toLocaleString();
    time.textContent = ago(tech.updatedAt);
  }

  function flash(tr) {
    tr.classList.remove("flash");
    void tr.offsetWidth; // restarts the animation on a row that flashed before
    tr.classList.add("flash");
  }

  // render updates the rows in place, keyed by tech id, so that a refresh does
  // not rebuild the table under the reader's eyes; a new or changed tech flashes.
  function render(page) {
    const seen = new Set();
    let total = 0;
    page.data.forEach((tech, index) => {
      seen.add(tech.id);
      total += tech.mentions;
      let entry = rows.get(tech.id);
      const changed = !entry || entry.mentions !== tech.mentions;
      if (!entry) {
        entry = { tr: newRow(tech), mentions: tech.mentions };
        rows.set(tech.id, entry);
      }
      fillRow(entry.tr, tech);
      if (tbody.children[index] !== entry.tr) tbody.insertBefore(entry.tr, tbody.children[index] || null);
      if (changed && !firstRender) flash(entry.tr);
      entry.mentions = tech.mentions;
    });
    for (const [id, entry] of rows) {
      if (!seen.has(id)) {
        entry.tr.remove();
        rows.delete(id);
      }
    }
    firstRender = false;
    if (window.techradarRadar) window.techradarRadar.render(page.data); // radar.js draws the same list

    const count = page.data.length;
    table.hidden = count === 0;
    emptyState.hidden = count !== 0;
    let text = `${count} ${count === 1 ? "technology" : "technologies"} · ${total} ${total === 1 ? "mention" : "mentions"}`;
    if (page.nextCursor) text += ` · showing the first ${count}`;
    summary.textContent = text;
    setCached(page.isCached);
  }

  // SMS: the messages sent from this page, kept for the tab's session and
  // followed until they are sent or failed.
  const smsForm = $("sms-form");
  const smsNumber = $("sms-number");
  const smsText = $("sms-text");
  const smsSubmit = $("sms-submit");
  const smsStatus = $("sms-status");
  const smsList = $("sms-list");
  const smsFieldErrors = { number: [smsNumber, $("sms-number-error")], text: [smsText, $("sms-text-error")] };
  const smsStorageKey = "techradar.sms";
  const smsKept = 10;
  let smsItems = [];
  try {
    smsItems = JSON.parse(sessionStorage.getItem(smsStorageKey) || "[]");
  } catch (_) { /* storage off or corrupt: start empty */ }

  function saveSMS() {
    try {
      sessionStorage.setItem(smsStorageKey, JSON.stringify(smsItems));
    } catch (_) { /* storage off: the list lives as long as the page */ }
  }

  function renderSMS() {
    smsList.replaceChildren(...smsItems.map((item) => {
      const li = document.createElement("li");
      li.dataset.id = item.id;
      li.dataset.status = item.status;
      const to = document.createElement("span");
      to.className = "sms-to";
      to.textContent = item.number;
      const state = document.createElement("span");
      state.className = "sms-state sms-state-" + item.status;
      state.textContent = item.status;
      const body = document.createElement("span");
      body.className = "sms-body";
      body.textContent = item.error ? `${item.text} — ${item.error}` : item.text;
      const meta = document.createElement("span");
      meta.className = "sms-meta";
      meta.textContent = `${item.attempts} ${item.attempts === 1 ? "attempt" : "attempts"}`;
      li.append(to, state, body, meta);
      return li;
    }));
    smsList.hidden = smsItems.length === 0;
  }

  async function refreshSMS() {
    const pending = smsItems.filter((item) => item.status === "queued");
    await Promise.all(pending.map(async (item) => {
      try {
        const response = await fetch(`/api/sms/${encodeURIComponent(item.id)}`, { headers: { Accept: "application/json" }, cache: "no-store" });
        if (!response.ok) return;
        const report = await response.json();
        item.status = report.status;
        item.attempts = report.attempts;
        item.error = report.error || "";
      } catch (_) { /* the next round tries again */ }
    }));
    if (pending.length > 0) {
      saveSMS();
      renderSMS();
    }
  }

  function clearSMSErrors() {
    for (const [input, error] of Object.values(smsFieldErrors)) {
      error.hidden = true;
      error.textContent = "";
      input.removeAttribute("aria-invalid");
    }
    smsStatus.hidden = true;
  }

  smsForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearSMSErrors();
    smsSubmit.disabled = true;
    try {
      const response = await fetch("/api/sms", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ number: smsNumber.value, text: smsText.value }),
      });
      if (response.status === 202) {
        const queued = await response.json();
        smsItems = [{ id: queued.id, number: queued.number, text: queued.text, status: queued.status, attempts: 0, error: "" }, ...smsItems].slice(0, smsKept);
        saveSMS();
        renderSMS();
        smsText.value = "";
        smsText.focus();
        return;
      }
      const error = await apiError(response);
      const field = smsFieldErrors[error.field];
      if (field) {
        field[1].textContent = error.message;
        field[1].hidden = false;
        field[0].setAttribute("aria-invalid", "true");
        field[0].focus();
      } else {
        smsStatus.dataset.kind = "error";
        smsStatus.textContent = error.message;
        smsStatus.hidden = false;
      }
    } catch (err) {
      smsStatus.dataset.kind = "error";
      smsStatus.textContent = `Cannot reach the service: ${err.message}`;
      smsStatus.hidden = false;
    } finally {
      smsSubmit.disabled = false;
    }
  });
  renderSMS();

  async function refresh() {
    if (polling) return;
    polling = true;
    refreshSMS();
    try {
      const response = await fetch(`/api/techs?limit=${listLimit}`, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (!response.ok) throw new Error((await apiError(response)).message);
      render(await response.json());
      listError.hidden = true;
      setLive("live", "Live");
    } catch (err) {
      setLive("offline", "Offline");
      listError.textContent = `Cannot read the list: ${err.message}. Retrying…`;
      listError.hidden = false;
    } finally {
      polling = false;
    }
  }

  function schedule() {
    clearTimeout(pollTimer);
    if (document.hidden) {
      setLive("paused", "Paused");
      return;
    }
    pollTimer = setTimeout(async () => {
      await refresh();
      schedule();
    }, refreshEvery);
  }

  function showNameError(message) {
    nameError.textContent = message;
    nameError.hidden = false;
    nameInput.setAttribute("aria-invalid", "true");
  }

  function clearErrors() {
    nameError.hidden = true;
    nameError.textContent = "";
    nameInput.removeAttribute("aria-invalid");
    formStatus.hidden = true;
  }

  function showStatus(kind, message) {
    formStatus.dataset.kind = kind;
    formStatus.textContent = message;
    formStatus.hidden = false;
  }

  // watchCommand follows a submitted command until its handler has applied it,
  // so that the form can say what became of the mention.
  async function watchCommand(location, name) {
    const until = Date.now() + commandWatchFor;
    while (Date.now() < until) {
      try {
        const response = await fetch(location, { headers: { Accept: "application/json" }, cache: "no-store" });
        if (response.ok) {
          const report = await response.json();
          if (report.status === "processed") {
            showStatus("ok", `“${name}” counted.`);
            refresh();
            return;
          }
          if (report.status === "failed") {
            showStatus("error", `“${name}” could not be counted: ${report.error || "the command failed"}.`);
            return;
          }
        }
      } catch (_) { /* the next round tries again */ }
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    showStatus("pending", `“${name}” is accepted and waits for a worker.`);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    const name = nameInput.value;
    submitButton.disabled = true;
    try {
      const response = await fetch("/api/techs", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ name }),
      });
      if (response.status === 202) {
        const accepted = await response.json();
        const shown = name.trim().replace(/\s+/g, " ");
        showStatus("pending", `“${shown}” accepted…`);
        nameInput.value = "";
        nameInput.focus();
        refresh();
        watchCommand(response.headers.get("Location") || `/api/commands/${encodeURIComponent(accepted.commandId)}`, shown);
        return;
      }
      const error = await apiError(response);
      if (error.field === "name") {
        showNameError(error.message);
        nameInput.focus();
      } else {
        showStatus("error", error.message);
      }
    } catch (err) {
      showStatus("error", `Cannot reach the service: ${err.message}`);
    } finally {
      submitButton.disabled = false;
    }
  });

  nameInput.addEventListener("input", () => {
    if (!nameError.hidden) clearErrors();
  });

  document.addEventListener("visibilitychange", async () => {
    if (!document.hidden) await refresh();
    schedule();
  });

  // The thresholds are the service's configuration: read them, never assume them.
  async function showPolicy() {
    try {
      const response = await fetch("/api/policy", { headers: { Accept: "application/json" }, cache: "no-store" });
      if (!response.ok) return;
      const policy = await response.json();
      $("policy-medium").textContent = String(policy.mediumAt);
      $("policy-high").textContent = String(policy.highAt);
    } catch (err) {
      // The legend keeps its placeholders; the list does not depend on it.
    }
  }

  showPolicy();
  refresh().then(schedule);
})();
