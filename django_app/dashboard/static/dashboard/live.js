/* Live page: one WebSocket to /ws/live/. The server sends a full snapshot on
 * connect (so a reconnect is a resync), then update messages as the consumer
 * publishes them; day totals and minute buckets in updates are absolute values
 * (the consumer's hashes after the batch), so applying one twice is harmless. */
"use strict";

(() => {
  const MAX_MINUTES = 120;
  const MAX_ORDERS = 50;
  const live = { today: null, days: {}, minutes: new Map(), orders: [] };
  let socket = null;
  let backoff = 500;
  let lastMessage = 0;

  const conn = document.getElementById("conn");
  const connText = document.getElementById("conn-text");
  const setConn = (state, text) => { conn.dataset.state = state; connText.textContent = text; };
  const utcToday = () => new Date().toISOString().slice(0, 10);

  function render(newOrderIds = new Set()) {
    const today = live.days[utcToday()] || live.days[live.today] || { revenue_cents: 0, orders: 0, units: 0, events: 0 };
    SP.setKpis(today, "live");
    const mins = [...live.minutes.values()].sort((a, b) => a.minute.localeCompare(b.minute)).slice(-MAX_MINUTES);
    SP.chart("chart-minutes", {
      type: "bar",
      data: { labels: mins.map((m) => m.minute.slice(11, 16)), datasets: [{ label: "Revenue", data: mins.map((m) => m.revenue_cents), backgroundColor: "#4f46e5", borderRadius: 3 }] },
      options: { animation: false, plugins: { legend: { display: false }, tooltip: SP.moneyTooltip }, scales: { y: SP.moneyAxis, x: { grid: { display: false }, ticks: { maxTicksLimit: 16 } } } },
    });
    SP.rows("#orders-table", live.orders, (o) => `<tr class="${newOrderIds.has(o.event_id) ? "new" : ""}" data-event="${SP.esc(o.event_id)}"><td>${SP.esc((o.event_time || "").slice(11, 19))}</td><td><code>${SP.esc(o.order_id)}</code>${o.event_type === "refund" ? ' <span class="pill refund">refund</span>' : ""}</td><td class="title">${SP.esc(o.title || o.book_id)}</td><td>${SP.esc(o.genre || "")}</td><td>${SP.esc(o.region)}</td><td>${SP.esc(o.channel)}</td><td class="num">${SP.fmtCount(o.quantity)}</td><td class="num">${SP.fmtMoney(o.revenue_cents)}</td></tr>`, "Waiting for sales…");
    document.getElementById("last-update").textContent = lastMessage ? new Date(lastMessage).toISOString().slice(11, 19) + " UTC" : "–";
    SP.loaded();
  }

  function applySnapshot(s) {
    live.today = s.today;
    live.days = s.days || {};
    live.minutes = new Map((s.minutes || []).map((m) => [m.minute.slice(0, 16), m]));
    live.orders = (s.latest_orders || []).slice(0, MAX_ORDERS);
    render();
  }

  function applyUpdate(u) {
    for (const [day, totals] of Object.entries(u.days || {})) live.days[day] = { ...(live.days[day] || {}), ...totals };
    for (const m of u.minutes || []) live.minutes.set(m.minute.slice(0, 16), m);
    const fresh = new Set();
    if (u.latest_orders && u.latest_orders.length) {
      const seen = new Set(live.orders.map((o) => o.event_id));
      const added = u.latest_orders.filter((o) => !seen.has(o.event_id));
      added.forEach((o) => fresh.add(o.event_id));
      live.orders = [...added, ...live.orders].slice(0, MAX_ORDERS);
    }
    render(fresh);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    setConn("connecting", "Connecting…");
    socket = new WebSocket(`${scheme}://${location.host}/ws/live/`);
    socket.onopen = () => { backoff = 500; setConn("open", "Live"); };
    socket.onmessage = (ev) => {
      lastMessage = Date.now();
      const msg = JSON.parse(ev.data);
      if (msg.type === "snapshot") applySnapshot(msg);
      else if (msg.type === "update") applyUpdate(msg);
      else if (msg.type === "batch_published") socket.send(JSON.stringify({ type: "resync" }));
    };
    socket.onclose = () => {
      setConn("closed", `Reconnecting in ${(backoff / 1000).toFixed(1)}s…`);
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
    socket.onerror = () => socket.close();
  }

  /* Threshold alerts: polled every 10 s over HTTP, independent of the socket, so a dead socket
   * or a relay restart cannot hide an alert (and the low-revenue rule, about silence, needs
   * no message to arrive to fire). */
  const ALERT_POLL_MS = 10000;
  async function loadAlerts() {
    const box = document.getElementById("alerts");
    try {
      const data = await SP.api("alerts");
      box.innerHTML = data.alerts.length
        ? data.alerts.map((a) => `<div class="alert sev-${SP.esc(a.severity)}" data-kind="${SP.esc(a.kind)}"><b>Alert</b> ${SP.esc(a.text)}</div>`).join("")
        : `<div class="alert clear">No alerts firing <span class="muted">(checked ${SP.esc(data.as_of.slice(11, 19))} UTC)</span></div>`;
      box.dataset.state = data.alerts.length ? "firing" : "clear";
    } catch (err) {
      box.innerHTML = `<div class="alert sev-notice">Alerts unavailable: ${SP.esc(err.message)}</div>`;
      box.dataset.state = "error";
    }
  }
  loadAlerts();
  setInterval(loadAlerts, ALERT_POLL_MS);

  // A tab woken from sleep may hold a dead socket: resync when it becomes visible.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "resync" }));
  });
  connect();
})();
