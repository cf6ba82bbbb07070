/* SalesPulse pages: every number is fetched from /api/analytics/ (the same API
 * programs use); filters re-fetch and redraw charts without reloading. */
"use strict";

const SP = (() => {
  const money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
  const moneyShort = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", notation: "compact", maximumFractionDigits: 1 });
  const count = new Intl.NumberFormat("en-US");
  const PALETTE = ["#4f46e5", "#0ea5e9", "#10b981", "#f59e0b", "#ef4444", "#8b5cf6", "#14b8a6", "#f97316",
    "#ec4899", "#84cc16", "#06b6d4", "#a855f7", "#eab308", "#64748b", "#22c55e", "#e11d48"];
  const charts = {};
  const SP_PALETTE = PALETTE;

  const fmtMoney = (cents) => (cents === null || cents === undefined ? "–" : money.format(cents / 100));
  const fmtCount = (n) => (n === null || n === undefined ? "n/a" : count.format(n));
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

  async function api(path, params = {}) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) qs.set(k, v);
    const resp = await fetch(`/api/analytics/${path}/?${qs}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (resp.status === 401 || resp.status === 403) { window.location = "/login/?next=" + encodeURIComponent(location.pathname); throw new Error("signed out"); }
    const body = await resp.json();
    if (!resp.ok) throw new Error(body.error || body.detail || resp.statusText);
    return body;
  }

  function csrfToken() {
    const field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  /* Quick insights panel (home): loaded on its own, so slow insights never hold up the KPIs and
   * never count towards data-loaded (the browser tests count the main loads). */
  const SEVERITY_ORDER = { warning: 0, notice: 1, info: 2 };
  async function loadInsights() {
    const panel = document.getElementById("insights");
    if (!panel) return;
    const list = document.getElementById("insight-list");
    try {
      const data = await api("insights");
      const items = [...data.insights].sort((a, b) => (SEVERITY_ORDER[a.severity] ?? 3) - (SEVERITY_ORDER[b.severity] ?? 3));
      document.getElementById("insights-range").textContent = `${data.range.start} → ${data.range.end}, computed on this server`;
      list.innerHTML = items.length
        ? items.map((i) => `<li class="insight" data-kind="${esc(i.kind)}" data-severity="${esc(i.severity)}"><span class="pill sev-${esc(i.severity)}">${esc(i.severity)}</span><span>${esc(i.text)}</span></li>`).join("")
        : '<li class="muted">No sales in the last 90 days: nothing to say yet.</li>';
      panel.dataset.state = "ready";
    } catch (err) {
      list.innerHTML = `<li class="error">Insights unavailable: ${esc(err.message)}</li>`;
      panel.dataset.state = "error";
    }
  }

  /* Funnel panel (home): views -> carts -> checkouts -> purchases with % of views; loaded on its own
   * like the insights, so it never counts towards data-loaded. */
  async function loadFunnel(params) {
    const panel = document.getElementById("funnel");
    if (!panel) return;
    try {
      const data = await api("funnel", params);
      const labels = { views: "Views", carts: "Add to cart", checkouts: "Checkout started", purchases: "Purchases" };
      const st = data.stages;
      chart("chart-funnel", {
        type: "bar",
        data: { labels: st.map((s) => `${labels[s.stage]} (${s.pct_of_views === null ? "–" : s.pct_of_views.toFixed(2) + "%"})`),
          datasets: [{ label: "Count", data: st.map((s) => s.count), backgroundColor: PALETTE.slice(0, 4), borderRadius: 6, maxBarThickness: 42 }] },
        options: { indexAxis: "y", plugins: { legend: { display: false }, tooltip: { callbacks: { label: (c) => {
          const s = st[c.dataIndex]; return `${fmtCount(s.count)}${s.pct_of_previous === null ? "" : ` · ${s.pct_of_previous.toFixed(2)}% of previous step`}`; } } } },
          scales: { x: { grid: { color: "#eef2f7" } }, y: { grid: { display: false } } } },
      });
      const r = data.totals.rates;
      const pct = (v) => (v === null ? "–" : `${v.toFixed(2)}%`);
      document.getElementById("funnel-rates").textContent = `view → purchase ${pct(r.view_to_purchase_pct)} · cart → checkout ${pct(r.cart_to_checkout_pct)} · checkout → purchase ${pct(r.checkout_to_purchase_pct)}`;
      panel.dataset.state = "ready";
    } catch (err) {
      document.getElementById("funnel-rates").textContent = `Funnel unavailable: ${err.message}`;
      panel.dataset.state = "error";
    }
  }

  /* Filter state lives in the URL so a view can be shared and survives reloads. */
  function state() {
    const url = new URLSearchParams(location.search);
    const body = document.body.dataset;
    return {
      days: url.get("days") || body.defaultDays || "30",
      start: url.get("start") || "", end: url.get("end") || "",
      region: url.get("region") || "", genre: url.get("genre") || "", channel: url.get("channel") || "",
      interval: url.get("interval") || body.defaultInterval || "day",
      by: url.get("by") || "", limit: url.get("limit") || "",
    };
  }
  function setState(changes) {
    const url = new URLSearchParams(location.search);
    for (const [k, v] of Object.entries(changes)) { if (v) url.set(k, v); else url.delete(k); }
    history.replaceState(null, "", `${location.pathname}?${url}`);
  }
  function rangeParams(s, allowed = []) {
    const p = s.days === "custom" ? { start: s.start, end: s.end } : { days: s.days };
    for (const f of allowed) if (s[f]) p[f] = s[f];
    return p;
  }

  function bindFilters(onChange) {
    const form = document.getElementById("filters");
    if (!form) return;
    const s = state();
    const days = form.querySelector("#f-days");
    const custom = form.querySelectorAll(".custom-range");
    const known = [...days.options].map((o) => o.value);
    days.value = s.start && s.end ? "custom" : (known.includes(s.days) ? s.days : "30");
    const showCustom = () => custom.forEach((el) => { el.hidden = days.value !== "custom"; });
    showCustom();
    for (const name of ["start", "end", "region", "genre", "channel"]) {
      const el = form.querySelector(`#f-${name}`);
      if (el) el.value = s[name];
    }
    form.addEventListener("change", (ev) => {
      showCustom();
      const st = form.querySelector("#f-start"), en = form.querySelector("#f-end");
      if (days.value === "custom" && !(st.value && en.value)) return;
      const changes = { days: days.value === "custom" ? "custom" : days.value, start: "", end: "" };
      if (days.value === "custom") Object.assign(changes, { start: st.value, end: en.value });
      for (const name of ["region", "genre", "channel"]) {
        const el = form.querySelector(`#f-${name}`);
        if (el) changes[name] = el.value;
      }
      // One dimension filter at a time (the API answers 400 otherwise).
      const target = ev.target.id && ev.target.id.replace("f-", "");
      if (["region", "genre", "channel"].includes(target) && ev.target.value) {
        for (const name of ["region", "genre", "channel"]) {
          if (name !== target) { changes[name] = ""; const el = form.querySelector(`#f-${name}`); if (el) el.value = ""; }
        }
      }
      setState(changes);
      onChange();
    });
  }

  function bindSeg(id, key, fallback, onChange) {
    const seg = document.getElementById(id);
    if (!seg) return;
    const attr = Object.keys(seg.querySelector("button").dataset)[0];
    const mark = () => seg.querySelectorAll("button").forEach((b) => b.classList.toggle("on", b.dataset[attr] === (state()[key] || fallback)));
    mark();
    seg.addEventListener("click", (ev) => {
      const b = ev.target.closest("button");
      if (!b) return;
      setState({ [key]: b.dataset[attr] });
      mark();
      onChange();
    });
  }

  function chart(id, config) {
    const el = document.getElementById(id);
    if (!el) return null;
    if (charts[id]) { charts[id].data = config.data; charts[id].options = config.options || charts[id].options; charts[id].update(); return charts[id]; }
    charts[id] = new Chart(el, config);
    return charts[id];
  }
  const moneyAxis = { ticks: { callback: (v) => moneyShort.format(v / 100) }, grid: { color: "#eef2f7" } };
  const moneyTooltip = { callbacks: { label: (c) => `${c.dataset.label || c.label}: ${fmtMoney(c.parsed.y ?? c.parsed.x ?? c.parsed)}` } };
  if (window.Chart) {
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = "#64748b";
    Chart.defaults.plugins.legend.labels.boxWidth = 12;
    Chart.defaults.maintainAspectRatio = false;
  }

  function bar(id, labels, values, opts = {}) {
    return chart(id, {
      type: "bar",
      data: { labels, datasets: [{ label: opts.label || "Revenue", data: values, backgroundColor: opts.colors || PALETTE[0], borderRadius: 6, maxBarThickness: 42 }] },
      options: {
        indexAxis: opts.horizontal ? "y" : "x",
        plugins: { legend: { display: false }, tooltip: opts.money === false ? {} : { callbacks: { label: (c) => fmtMoney(opts.horizontal ? c.parsed.x : c.parsed.y) } } },
        scales: opts.horizontal
          ? { x: opts.money === false ? {} : moneyAxis, y: { grid: { display: false }, ticks: { autoSkip: false } } }
          : { y: opts.money === false ? {} : moneyAxis, x: { grid: { display: false } } },
      },
    });
  }
  function doughnut(id, labels, values) {
    return chart(id, {
      type: "doughnut",
      data: { labels, datasets: [{ data: values, backgroundColor: PALETTE, borderWidth: 2, borderColor: "#fff" }] },
      options: { cutout: "62%", plugins: { legend: { position: labels.length > 8 ? "bottom" : "right", labels: { boxWidth: 10, font: { size: 11 } } }, tooltip: { callbacks: { label: (c) => `${c.label}: ${fmtMoney(c.parsed)}` } } } },
    });
  }

  function setKpis(totals, attr = "kpi") {
    document.querySelectorAll(`[data-${attr}]`).forEach((el) => {
      const key = el.dataset[attr];
      if (!(key in totals)) return;
      const v = totals[key];
      const old = el.dataset.value;
      el.dataset.value = v === null ? "" : String(v);
      el.textContent = el.dataset.kind === "money" ? fmtMoney(v) : fmtCount(v);
      if (old !== undefined && old !== el.dataset.value) { el.classList.remove("flash"); void el.offsetWidth; el.classList.add("flash"); }
    });
  }

  function renderSources(src) {
    const foot = document.getElementById("sources");
    if (!foot || !src) return;
    const parts = [];
    parts.push(`<span class="src">Watermark <b>${esc(src.watermark || "none yet")}</b></span>`);
    if (src.batch) parts.push(`<span class="src">Warehouse ${esc(src.batch.start)} → ${esc(src.batch.end)}: <b>${fmtMoney(src.batch.revenue_cents)}</b> (run ${esc(src.batch.run_id || "")}, as of ${esc(src.batch.as_of || "?")})</span>`);
    if (src.speed) parts.push(`<span class="src">Live views ${esc(src.speed.start)} → ${esc(src.speed.end)}: <b>${fmtMoney(src.speed.revenue_cents)}</b> (as of ${esc(src.speed.as_of)})</span>`);
    foot.innerHTML = parts.join("");
  }

  function rows(tbodySel, items, render, empty = "No data in this range") {
    const tbody = document.querySelector(`${tbodySel} tbody`);
    if (!tbody) return;
    const cols = tbody.closest("table").querySelectorAll("thead th").length;
    tbody.innerHTML = items.length ? items.map(render).join("") : `<tr><td class="empty" colspan="${cols}">${empty}</td></tr>`;
  }

  function loaded() {
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
  }
  function failed(err) {
    const foot = document.getElementById("sources");
    if (foot) foot.innerHTML = `<span class="src" style="color:#dc2626">Could not load data: ${esc(err.message)}</span>`;
    document.body.dataset.error = err.message;
  }

  /* ------------------------------------------------------------------ pages */
  const pages = {};

  pages.home = () => {
    const load = async () => {
      const s = state();
      const all = rangeParams(s, ["region", "genre", "channel"]);
      const plain = rangeParams(s);
      const [summary, ts, books, regions, genres, channels] = await Promise.all([
        api("summary", all), api("timeseries", { ...all, interval: s.interval }),
        api("top-books", { ...rangeParams(s, ["genre"]), limit: 5 }),
        api("sales-by-region", plain), api("sales-by-genre", plain), api("sales-by-channel", plain),
      ]);
      setKpis(summary.totals);
      chart("chart-revenue", {
        type: "line",
        data: { labels: ts.series.map((p) => p.period), datasets: [{ label: "Revenue", data: ts.series.map((p) => p.revenue_cents), borderColor: "#4f46e5", backgroundColor: "rgba(79,70,229,.12)", fill: true, tension: .3, pointRadius: ts.series.length > 60 ? 0 : 3 }] },
        options: { plugins: { legend: { display: false }, tooltip: moneyTooltip }, scales: { y: moneyAxis, x: { grid: { display: false }, ticks: { maxTicksLimit: 12 } } } },
      });
      rows("#top-books", books.results, (b) => `<tr data-book="${esc(b.book_id)}"><td>${b.rank}</td><td class="title" title="${esc(b.title)}">${esc(b.title)}</td><td class="num" data-value="${b.revenue_cents}">${fmtMoney(b.revenue_cents)}</td></tr>`);
      bar("chart-regions", regions.results.map((r) => r.name), regions.results.map((r) => r.revenue_cents), { horizontal: true });
      const g = genres.results.filter((r) => r.revenue_cents > 0).slice(0, 10);
      bar("chart-genres", g.map((r) => r.genre), g.map((r) => r.revenue_cents), { horizontal: true, colors: SP_PALETTE });
      const c = channels.results.filter((r) => r.revenue_cents > 0);
      doughnut("chart-channels", c.map((r) => r.name), c.map((r) => r.revenue_cents));
      renderSources(summary.sources);
      loaded();
      loadFunnel(plain);
    };
    bindFilters(() => load().catch(failed));
    bindSeg("interval", "interval", document.body.dataset.defaultInterval || "day", () => load().catch(failed));
    load().catch(failed);
    loadInsights();
  };

  pages.top_books = () => {
    const load = async () => {
      const s = state();
      const by = s.by || "revenue";
      const limit = document.getElementById("f-limit").value;
      const data = await api("top-books", { ...rangeParams(s, ["genre"]), by, limit });
      const key = by === "units" ? "units" : "revenue_cents";
      document.querySelector("#chart-books").parentElement.style.height = `${Math.max(240, data.results.length * 26 + 60)}px`;
      bar("chart-books", data.results.map((b) => b.title.length > 28 ? b.title.slice(0, 27) + "…" : b.title), data.results.map((b) => b[key]),
        { horizontal: true, money: by !== "units", label: by === "units" ? "Units" : "Revenue" });
      rows("#books-table", data.results, (b) => `<tr data-book="${esc(b.book_id)}"><td>${b.rank}</td><td class="title" title="${esc(b.title)}">${esc(b.title)}</td><td>${esc(b.author)}</td><td><span class="pill">${esc(b.genre)}</span></td><td class="num">${fmtCount(b.units)}</td><td class="num" data-value="${b.revenue_cents}">${fmtMoney(b.revenue_cents)}</td></tr>`);
      renderSources(data.sources);
      loaded();
    };
    bindFilters(() => load().catch(failed));
    bindSeg("rank-by", "by", "revenue", () => load().catch(failed));
    document.getElementById("f-limit").addEventListener("change", () => load().catch(failed));
    load().catch(failed);
  };

  const dimensionPage = (dimension, endpoint) => () => {
    const load = async () => {
      const data = await api(endpoint, rangeParams(state()));
      const label = (r) => dimension === "genre" ? r.genre : r.name;
      const res = data.results;
      bar("chart-dimension", res.map(label), res.map((r) => r.revenue_cents), { colors: PALETTE });
      const pos = res.filter((r) => r.revenue_cents > 0);
      doughnut("chart-share", pos.map(label), pos.map((r) => r.revenue_cents));
      rows("#dimension-table", res, (r) => `<tr data-member="${esc(r[dimension])}"><td>${esc(label(r))}</td><td class="num" data-value="${r.revenue_cents}">${fmtMoney(r.revenue_cents)}</td><td class="num">${r.share_pct.toFixed(2)}%</td><td class="num">${fmtCount(r.orders)}</td><td class="num">${fmtCount(r.units)}</td><td class="num">${fmtMoney(r.average_order_value_cents)}</td></tr>`);
      renderSources(data.sources);
      loaded();
    };
    bindFilters(() => load().catch(failed));
    load().catch(failed);
  };
  pages.regions = dimensionPage("region", "sales-by-region");
  pages.genres = dimensionPage("genre", "sales-by-genre");

  pages.customers = () => {
    const load = async () => {
      const s = state();
      const by = s.by || "revenue";
      const data = await api("top-customers", { ...rangeParams(s), by, limit: 20 });
      const key = by === "quantity" ? "units" : "revenue_cents";
      bar("chart-customers", data.results.map((c) => c.name), data.results.map((c) => c[key]),
        { money: by !== "quantity", label: by === "quantity" ? "Units" : "Revenue", colors: PALETTE[1] });
      rows("#customers-table", data.results, (c) => `<tr data-customer="${esc(c.customer_id)}"><td>${c.rank}</td><td>${esc(c.name)} <span class="muted">${esc(c.customer_id)}</span></td><td>${esc(c.region_name)}</td><td><span class="pill">${esc(c.segment)}</span></td><td class="num">${fmtCount(c.units)}</td><td class="num" data-value="${c.revenue_cents}">${fmtMoney(c.revenue_cents)}</td></tr>`);
      renderSources(data.sources);
      loaded();
    };
    bindFilters(() => load().catch(failed));
    bindSeg("rank-by", "by", "revenue", () => load().catch(failed));
    load().catch(failed);
  };

  pages.pipeline = () => {
    const load = async () => {
      const p = await api("pipeline-status");
      const set = (k, v) => { const el = document.querySelector(`[data-p="${k}"]`); if (el) { el.textContent = v; } };
      set("watermark", p.watermark || "none yet");
      set("lag_total", fmtCount(p.consumer.lag_total ?? 0));
      set("events_per_s", `${(p.consumer.events_per_s ?? 0).toFixed(1)}/s`);
      set("dlq_total", fmtCount(p.dlq_total));
      set("rows_rejected", fmtCount(p.quarantine.rows_rejected));
      set("late_events", fmtCount(p.late_events));
      document.getElementById("pipeline-asof").textContent = `as of ${p.as_of}`;
      rows("#runs-table", p.batch_runs, (r) => `<tr><td><code>${esc(r.run_id)}</code></td><td>${esc(r.mode)}</td><td><span class="pill ${esc(r.status)}">${esc(r.status)}</span>${r.error ? ` <span class="muted" title="${esc(r.error)}">${esc(r.error.slice(0, 60))}</span>` : ""}</td><td>${esc(r.started_at || "")}</td><td>${esc(r.finished_at || "")}</td><td class="num">${fmtCount(r.rows_fact)}</td><td class="num">${fmtMoney(r.revenue_cents)}</td><td>${esc(r.watermark || "")}</td></tr>`, "No batch run yet");
      rows("#lag-table", Object.entries(p.consumer.lag || {}), ([k, v]) => `<tr><td>${esc(k)}</td><td class="num">${fmtCount(v)}</td></tr>`, "Consumer not reporting");
      rows("#reasons-table", p.quarantine.reasons, (r) => `<tr><td>${esc(r.reason)}</td><td class="num">${fmtCount(r.count)}</td></tr>`, "Nothing quarantined");
      rows("#csv-table", p.csv_reports, (r) => `<tr><td>${esc(r.file_name)}</td><td>${esc(r.ingested_at || "")}</td><td class="num">${fmtCount(r.rows_read)}</td><td class="num">${fmtCount(r.rows_loaded)}</td><td class="num">${fmtCount(r.rows_rejected)}</td><td><span class="pill ${esc(r.status)}">${esc(r.status)}</span></td><td>${esc(r.reason || "")}</td></tr>`, "No CSV files ingested");
      loaded();
    };
    load().catch(failed);
    setInterval(() => load().catch(failed), 10000);
  };

  pages.explore = () => {
    const form = document.getElementById("explore-form");
    const sql = document.getElementById("sql");
    const button = document.getElementById("run");
    const meta = document.getElementById("result-meta");
    const error = document.getElementById("query-error");
    const card = document.getElementById("result-card");
    const cell = (v) => (v === null ? '<td><span class="muted">NULL</span></td>' : `<td${typeof v === "number" ? ' class="num"' : ""}>${esc(v)}</td>`);

    async function call(method, body) {
      const resp = await fetch("/api/analytics/explore/", {
        method, credentials: "same-origin",
        headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: body ? JSON.stringify(body) : undefined,
      });
      if (resp.status === 401) { window.location = "/login/?next=" + encodeURIComponent(location.pathname); throw new Error("signed out"); }
      return { status: resp.status, body: await resp.json() };
    }

    async function loadAudit() {
      const { status, body } = await call("GET");
      if (status !== 200) throw new Error(body.detail || body.error || `HTTP ${status}`);
      rows("#audit-table", body.recent, (a) => `<tr data-query="${esc(a.query_id)}"><td>${esc(a.started_at.slice(0, 19).replace("T", " "))}</td><td>${esc(a.user)}</td><td><span class="pill ${a.status === "ok" ? "ok" : "rejected"}" title="${esc(a.error || "")}">${esc(a.status)}</span></td><td class="num">${fmtCount(a.row_count)}${a.truncated ? "+" : ""}</td><td class="num">${fmtCount(a.duration_ms)}</td><td><code class="sql" title="${esc(a.sql)}">${esc(a.sql)}</code></td></tr>`, "No queries yet");
    }

    async function run() {
      button.disabled = true;
      meta.textContent = "Running…";
      error.hidden = true;
      try {
        const { status, body } = await call("POST", { sql: sql.value });
        if (status === 200) {
          card.hidden = false;
          const numeric = (i) => body.rows.length > 0 && typeof body.rows[0][i] === "number";
          document.querySelector("#result-table thead").innerHTML = `<tr>${body.columns.map((c, i) => `<th${numeric(i) ? ' class="num"' : ""}>${esc(c)}</th>`).join("")}</tr>`;
          rows("#result-table", body.rows, (r) => `<tr>${r.map(cell).join("")}</tr>`, "No rows");
          const n = body.rows.length;
          document.getElementById("result-count").textContent = body.truncated ? `first ${fmtCount(n)} rows (more were cut off)` : `${fmtCount(n)} row${n === 1 ? "" : "s"}`;
          meta.innerHTML = `${fmtCount(n)} row${n === 1 ? "" : "s"} in ${fmtCount(body.duration_ms)} ms${body.truncated ? ` · <span class="pill running">truncated at ${fmtCount(body.row_cap)}</span>` : ""}`;
          meta.dataset.state = body.truncated ? "truncated" : "ok";
        } else {
          const label = body.kind === "refused" ? "Refused" : body.code === "timeout" ? "Timed out" : "Failed";
          error.textContent = `${label} (${body.code || status}): ${body.message || body.detail || body.error || "unexpected answer"}`;
          error.hidden = false;
          card.hidden = true; // an old result under a new error would read as this query's answer
          meta.textContent = "";
          meta.dataset.state = body.kind || "error";
        }
      } catch (err) {
        error.textContent = `Could not run the query: ${err.message}`;
        error.hidden = false;
        meta.textContent = "";
      } finally {
        button.disabled = false;
      }
      await loadAudit().catch(failed);
      loaded();
    }

    form.addEventListener("submit", () => run());
    sql.addEventListener("keydown", (ev) => { if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); run(); } });
    loadAudit().then(loaded).catch(failed);
  };

  document.addEventListener("DOMContentLoaded", () => {
    const page = pages[document.body.dataset.page];
    if (page) page();
  });

  return { api, chart, fmtMoney, fmtCount, esc, setKpis, rows, loaded, PALETTE, moneyAxis, moneyTooltip };
})();
