// smallBMS NG web app: plain JavaScript, no build step, no external files.
// Reads /api/* with the session cookie; state-changing calls send the X-CSRF-Token header.
// Live values come from /api/stream (Server-Sent Events); charts from /api/series.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const el = (tag, props = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  };
  const SVG = "http://www.w3.org/2000/svg";
  const svg = (tag, attrs = {}) => {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    return e;
  };

  // --- words for the API's reason and state names ---------------------------------------------
  const REASONS = {
    no_battery_data: "no complete data from the batteries yet",
    remote_off: "the remote on/off input is off",
    mode_off: "the BMS is switched off (mode Off)",
    configuration_invalid: "the batteries do not form a valid bank",
    configuration_changed: "the bank changed since it was commissioned",
    voltage_not_allowed: "the bank voltage is outside the allowed range",
    hardware_error: "hardware error",
    low_cell_voltage: "a cell voltage is too low",
    low_bank_voltage: "the bank voltage is too low",
    discharge_floor: "the discharge floor has been reached",
    comms_lost: "communication with a battery is lost",
    firmware_update_failed: "a battery firmware update failed",
    high_cell_voltage: "a cell voltage is too high",
    low_temperature: "a battery is too cold to charge (below 5 °C)",
    high_temperature: "a battery is too hot",
    firmware_update: "a battery firmware update is running",
    no_power: "the BMS has no power",
  };
  const OUTPUT_NAMES = {
    load_disconnect: "Load disconnect",
    charge_disconnect: "Charge disconnect",
    pre_alarm: "Pre-alarm",
  };
  const BALANCER = {
    unknown: "Unknown — start a full charge",
    balanced: "Balanced",
    imbalanced: "Imbalanced — start a full charge",
    balancing: "Balancing",
  };
  const LED_WORDS = { off: "off", blink: "blinking", on: "on" };

  // --- formatting -----------------------------------------------------------------------------
  const DASH = "—";
  const num = (v, digits, unit) =>
    v === null || v === undefined || Number.isNaN(v) ? DASH : `${Number(v).toFixed(digits)} ${unit}`;
  function duration(s) {
    if (s === null || s === undefined) return DASH;
    s = Math.max(0, Math.round(s));
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d > 0) return `${d} d ${h} h`;
    if (h > 0) return `${h} h ${String(m).padStart(2, "0")} min`;
    if (m > 0) return `${m} min`;
    return `${s} s`;
  }
  const clockTime = (wall) => new Date(wall * 1000).toLocaleString();

  // --- API ------------------------------------------------------------------------------------
  function csrfToken() {
    const m = document.cookie.match(/(?:^|;\s*)smallbms_csrf=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  class ApiError extends Error {
    constructor(status, detail) {
      super(typeof detail === "string" ? detail : JSON.stringify(detail));
      this.status = status;
      this.detail = detail;
    }
  }
  function detailText(detail) {
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((d) => d.message || JSON.stringify(d)).join("; ");
    return JSON.stringify(detail);
  }
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await r.json(); } catch (_) { data = null; }
    if (!r.ok) {
      const detail = data && data.detail !== undefined ? data.detail : r.statusText;
      if (r.status === 401 && path !== "/api/login" && path !== "/api/actions/change_pin") showLogin();
      if (r.status === 403 && typeof detail === "string" && !detail.includes("CSRF")) banner(detail);
      throw new ApiError(r.status, detail);
    }
    return data;
  }

  // --- views ----------------------------------------------------------------------------------
  let source = null;
  let snap = null;
  let settingsBuilt = false;
  let currentTab = "status";
  let selectedBattery = 0;

  function banner(text) {
    const b = $("banner");
    b.textContent = text || "";
    b.hidden = !text;
  }
  function setConn(state, text) {
    $("conn-dot").className = `dot ${state}`;
    $("conn-text").textContent = text;
  }
  function showLogin(message) {
    if (source) { source.close(); source = null; }
    $("app-view").hidden = true;
    $("logout").hidden = true;
    $("login-view").hidden = false;
    $("login-error").textContent = message || "";
    setConn("off", "not connected");
    $("pin").focus();
  }
  function showApp() {
    $("login-view").hidden = true;
    $("app-view").hidden = false;
    $("logout").hidden = false;
    banner("");
    startStream();
    showTab(currentTab);
  }

  function startStream() {
    if (source) source.close();
    setConn("wait", "connecting");
    source = new EventSource("/api/stream");
    source.onopen = () => setConn("on", "live");
    source.onmessage = (ev) => {
      try { render(JSON.parse(ev.data)); } catch (e) { console.error(e); }
    };
    source.addEventListener("closed", (ev) => {
      let msg = "The connection was closed.";
      try { msg = JSON.parse(ev.data).detail; } catch (_) { /* keep default */ }
      source.close(); source = null;
      banner(msg);
      showLogin(msg);
    });
    source.onerror = () => {
      setConn("wait", "reconnecting");
      // the browser retries by itself; check whether the session is still valid
      api("GET", "/api/status").then(() => {}, () => {});
    };
  }

  // --- rendering ------------------------------------------------------------------------------
  function render(s) {
    snap = s;
    renderStatus(s);
    if (currentTab === "battery") renderBattery(s);
    if (currentTab === "history") renderHistory(s);
    if (currentTab === "settings") renderSettings(s);
    $("foot").textContent = `Device time ${duration(s.t_s)} · updated ${new Date(s.wall_s * 1000).toLocaleTimeString()}`;
    $("foot").dataset.t = String(s.t_s);
  }

  function kv(dl, rows) {
    dl.replaceChildren(...rows.flatMap(([k, v, id]) => {
      const dd = el("dd", { text: v });
      if (id) dd.id = id;
      return [el("dt", { text: k }), dd];
    }));
  }

  function renderStatus(s) {
    const st = s.status;
    $("soc").textContent = st.soc_pct === null ? "--" : st.soc_pct.toFixed(1);
    const bar = $("soc-bar");
    bar.style.width = `${st.soc_pct === null ? 0 : st.soc_pct}%`;
    bar.className = "bar-fill" + (st.soc_pct !== null && st.soc_pct <= s.settings.values.low_soc_warning_pct ? " low" : "");
    const on = st.mode === "on";
    $("mode-switch").setAttribute("aria-checked", String(on));
    $("mode-switch").classList.toggle("on", on);
    $("mode-text").textContent = on ? "On" : "Off";

    const ch = $("allowed-charge");
    ch.textContent = st.allowed_to_charge ? "Yes" : "No";
    ch.className = `pill ${st.allowed_to_charge ? "ok" : "bad"}`;
    const dis = $("allowed-discharge");
    const dmap = { yes: ["Yes", "ok"], no: ["No", "bad"], "pre-alarm": ["Pre-alarm", "warn"] };
    const [dt, dc] = dmap[st.allowed_to_discharge] || [st.allowed_to_discharge, ""];
    dis.textContent = dt;
    dis.className = `pill ${dc}`;
    const reasons = (ul, list) => ul.replaceChildren(...list.map((r) => el("li", { text: REASONS[r] || r.replaceAll("_", " ") })));
    reasons($("charge-reasons"), st.charge_reasons);
    reasons($("discharge-reasons"), st.discharge_reasons);

    $("voltage").textContent = num(st.voltage_v, 2, "V");
    $("current").textContent = num(st.current_a, 2, "A");
    $("power").textContent = num(st.power_w, 0, "W");
    $("consumed").textContent = num(st.consumed_ah, 1, "Ah");
    $("time-remaining").textContent = st.time_remaining_s === null ? (st.current_a !== null && st.current_a < 0 ? DASH : "not discharging") : duration(st.time_remaining_s);

    kv($("outputs"), Object.entries(st.outputs).map(([k, v]) => {
      const good = k === "pre_alarm" ? v === "floating" : v === "high";
      return [OUTPUT_NAMES[k] || k, `${v === "high" ? "High" : "Floating"}${good ? "" : " ⚠"}`];
    }));
    for (const name of ["bluetooth", "error"]) {
      const state = st.leds[name];
      $(`led-${name}`).className = `led ${name} ${state}`;
      $(`led-${name}-text`).textContent = LED_WORDS[state] || state;
    }
    $("firmware-status").textContent = st.firmware_update === "idle" ? "" :
      st.firmware_update === "updating" ? "Battery firmware update in progress — charging is off." :
        "Battery firmware update failed — the loads are cut 120 s after the failure unless a retry succeeds.";

    const codes = $("codes");
    if (!s.active_codes.length) {
      codes.replaceChildren(el("p", { class: "muted", text: "Nothing active: all is well." }));
    } else {
      codes.replaceChildren(...s.active_codes.map((c) => el("div", { class: `code ${c.kind}` },
        el("div", { class: "code-head" }, el("strong", { text: c.code }), ` ${c.name}`,
          el("span", { class: "kind", text: c.kind })),
        el("p", { class: "small", text: c.advice }))));
    }
  }

  function renderBattery(s) {
    const st = s.status, b = s.bank;
    kv($("bank-info"), [
      ["Balancer status", BALANCER[st.balancer] || (st.balancer || DASH)],
      ["Min cell voltage", num(st.min_cell_v, 3, "V")],
      ["Max cell voltage", num(st.max_cell_v, 3, "V")],
      ["Min cell temperature", num(st.min_temperature_c, 1, "°C")],
      ["Max cell temperature", num(st.max_temperature_c, 1, "°C")],
      ["Batteries", b ? String(b.batteries) : DASH],
      ["Battery cells", b ? String(b.cells_total) : DASH],
      ["Batteries in series", b ? String(b.series) : DASH],
      ["Batteries in parallel", b ? String(b.parallel) : DASH],
      ["Capacity", b ? `${b.capacity_ah} Ah (${b.energy_kwh} kWh)` : DASH],
    ]);
    const sel = $("battery-select");
    if (sel.options.length !== s.batteries.length) {
      sel.replaceChildren(...s.batteries.map((x, i) => el("option", { value: String(i), text: `${i + 1}` })));
      sel.value = String(Math.min(selectedBattery, s.batteries.length - 1));
    }
    const bat = s.batteries[selectedBattery];
    if (!bat) { kv($("battery-info"), []); $("cells").replaceChildren(); return; }
    if (!bat.reporting) {
      kv($("battery-info"), [["State", "not reporting"]]);
      $("cells").replaceChildren(el("p", { class: "muted", text: "No data from this battery." }));
      return;
    }
    kv($("battery-info"), [
      ["Serial number", bat.serial],
      ["Model", `Lithium NG ${bat.model_id}`],
      ["Nominal capacity", num(bat.capacity_ah, 0, "Ah")],
      ["Firmware", bat.firmware],
      ["Temperature", num(bat.temperature_c, 1, "°C")],
      ["Voltage", num(bat.voltage_v, 2, "V")],
      ["Current", num(bat.current_a, 2, "A")],
    ]);
    const lo = 2.5, hi = 3.65;
    const vs = bat.cell_voltages_v;
    const vmin = Math.min(...vs), vmax = Math.max(...vs);
    $("cells").replaceChildren(...vs.map((v, i) => {
      const fill = el("div", { class: "cell-fill" });
      fill.style.width = `${Math.max(2, Math.min(100, ((v - lo) / (hi - lo)) * 100))}%`;
      if (v < 3.0 || v >= 3.65) fill.classList.add("bad");
      else if (vs.length > 1 && v === vmin && vmax - vmin > 0.01) fill.classList.add("min");
      return el("div", { class: "cell" },
        el("span", { class: "cell-name", text: `Cell ${i + 1}` }),
        el("div", { class: "cell-bar" }, fill),
        el("span", { class: "cell-v", text: `${v.toFixed(3)} V` }));
    }));
  }

  function renderHistory(s) {
    const h = s.history;
    kv($("history"), [
      ["Deepest discharge", num(h.deepest_discharge_ah, 1, "Ah")],
      ["Cumulative Ah drawn", num(h.cumulative_ah_drawn, 1, "Ah")],
      ["Discharged energy", num(h.discharged_energy_kwh, 2, "kWh")],
      ["Charged energy", num(h.charged_energy_kwh, 2, "kWh")],
      ["Synchronisations", String(h.synchronisations)],
      ["Cycles", String(h.cycles)],
      ["Last full charge", h.seconds_since_full_charge === null ? "never" : `${duration(h.seconds_since_full_charge)} ago`],
      ["Minimum battery voltage", num(h.min_battery_voltage_v, 2, "V")],
      ["Maximum battery voltage", num(h.max_battery_voltage_v, 2, "V")],
      ["Min cell voltage", num(h.min_cell_voltage_v, 3, "V")],
      ["Max cell voltage", num(h.max_cell_voltage_v, 3, "V")],
      ["Min battery temperature", num(h.min_battery_temperature_c, 1, "°C")],
      ["Max battery temperature", num(h.max_battery_temperature_c, 1, "°C")],
    ]);
    const errs = h.last_errors;
    $("last-errors").replaceChildren(errs.length ?
      el("ul", { class: "plain" }, ...errs.slice().reverse().map((e) =>
        el("li", { text: `${e.code} — ${duration(s.t_s - e.t)} ago` }))) :
      el("p", { class: "muted", text: "No errors recorded." }));
  }

  // --- settings -------------------------------------------------------------------------------
  function buildSettings(s) {
    const box = $("settings-fields");
    box.replaceChildren(...s.settings.specs.map((sp) => {
      const input = el("input", {
        type: "number", id: `set-${sp.name}`, name: sp.name, min: String(sp.minimum),
        max: String(sp.maximum), step: String(sp.step), inputmode: "decimal",
      });
      input.value = String(s.settings.values[sp.name]);
      input.addEventListener("input", () => { input.dataset.dirty = "1"; fieldMsg(sp.name, ""); });
      return el("div", { class: "setting" },
        el("label", { for: input.id, text: sp.label }),
        el("div", { class: "setting-input" }, input, el("span", { class: "unit", text: sp.unit })),
        el("p", { class: "muted small", text: `${sp.minimum}–${sp.maximum} ${sp.unit}, default ${sp.default}. ${sp.help}` }),
        el("p", { class: "error", id: `msg-${sp.name}`, role: "alert" }));
    }));
    settingsBuilt = true;
  }
  function fieldMsg(name, text) {
    const m = $(`msg-${name}`);
    if (m) m.textContent = text;
  }
  function renderSettings(s) {
    if (!settingsBuilt) buildSettings(s);
    for (const [name, v] of Object.entries(s.settings.values)) {
      const input = $(`set-${name}`);
      if (input && !input.dataset.dirty && document.activeElement !== input) input.value = String(v);
    }
  }
  async function saveSettings(ev) {
    ev.preventDefault();
    const values = {};
    for (const input of $("settings-fields").querySelectorAll("input")) {
      fieldMsg(input.name, "");
      if (input.dataset.dirty) values[input.name] = input.value === "" ? null : Number(input.value);
    }
    const msg = $("settings-msg");
    if (!Object.keys(values).length) { msg.textContent = "Nothing changed."; msg.className = "status-msg"; return; }
    msg.textContent = "Saving…"; msg.className = "status-msg";
    try {
      const out = await api("PUT", "/api/settings", values);
      for (const input of $("settings-fields").querySelectorAll("input")) {
        delete input.dataset.dirty;
        input.value = String(out.values[input.name]);
      }
      msg.textContent = "Saved."; msg.className = "status-msg ok";
    } catch (e) {
      if (e.status === 422 && Array.isArray(e.detail)) {
        for (const d of e.detail) fieldMsg(d.setting || d.field, d.message);
      }
      msg.textContent = `Not saved: ${detailText(e.detail)}`; msg.className = "status-msg bad";
    }
  }

  async function action(path, body, msgId, okText, confirmText) {
    const msg = $(msgId || "actions-msg");
    if (confirmText && !window.confirm(confirmText)) return;
    msg.textContent = "…"; msg.className = "status-msg";
    try {
      const out = await api("POST", path, body);
      msg.textContent = okText || out.message || "Done."; msg.className = "status-msg ok";
    } catch (e) {
      msg.textContent = detailText(e.detail); msg.className = "status-msg bad";
    }
  }

  // --- log and charts -------------------------------------------------------------------------
  async function loadLog() {
    try {
      const rows = await api("GET", "/api/codes?limit=200");
      $("log-body").replaceChildren(...rows.map((r) => el("tr", { class: r.state },
        el("td", { text: clockTime(r.wall_s) }), el("td", { text: r.code }),
        el("td", { text: r.name || "" }), el("td", { text: r.state === "active" ? "raised" : "cleared" }))));
      $("log-note").textContent = rows.length ? "" : "No warnings, alarms or errors recorded yet.";
    } catch (e) { $("log-note").textContent = detailText(e.detail); }
  }

  function chart(box, title, unit, points, field, color, digits) {
    const W = 640, H = 180, L = 48, R = 10, T = 22, B = 24;
    const pts = points.filter((p) => p[field] !== null && p[field] !== undefined);
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title, class: "chart-svg" });
    const label = svg("text", { x: L, y: 14, class: "chart-title" });
    const last = pts.length ? pts[pts.length - 1][field] : null;
    label.textContent = `${title}${last === null ? "" : ` — now ${last.toFixed(digits)} ${unit}`}`;
    root.append(label);
    if (pts.length < 2) {
      const t = svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "chart-empty" });
      t.textContent = "not enough samples yet";
      root.append(t);
      box.replaceChildren(root);
      return;
    }
    const t0 = pts[0].wall_s, t1 = pts[pts.length - 1].wall_s;
    let lo = Math.min(...pts.map((p) => p[`${field}_min`] ?? p[field]));
    let hi = Math.max(...pts.map((p) => p[`${field}_max`] ?? p[field]));
    if (hi - lo < 1e-6) { lo -= 1; hi += 1; }
    const pad = (hi - lo) * 0.08; lo -= pad; hi += pad;
    const x = (t) => L + ((t - t0) / Math.max(1e-9, t1 - t0)) * (W - L - R);
    const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
    for (let i = 0; i <= 4; i++) {
      const v = lo + ((hi - lo) * i) / 4;
      root.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid-line" }));
      const tl = svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" });
      tl.textContent = v.toFixed(digits);
      root.append(tl);
    }
    for (let i = 0; i <= 3; i++) {
      const t = t0 + ((t1 - t0) * i) / 3;
      const tl = svg("text", { x: x(t), y: H - 6, "text-anchor": i === 0 ? "start" : i === 3 ? "end" : "middle", class: "axis" });
      tl.textContent = new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      root.append(tl);
    }
    if (lo < 0 && hi > 0) root.append(svg("line", { x1: L, x2: W - R, y1: y(0), y2: y(0), class: "zero-line" }));
    const band = pts.map((p) => `${x(p.wall_s).toFixed(1)},${y(p[`${field}_max`] ?? p[field]).toFixed(1)}`)
      .concat(pts.slice().reverse().map((p) => `${x(p.wall_s).toFixed(1)},${y(p[`${field}_min`] ?? p[field]).toFixed(1)}`));
    root.append(svg("polygon", { points: band.join(" "), fill: color, "fill-opacity": 0.15, stroke: "none" }));
    root.append(svg("polyline", {
      points: pts.map((p) => `${x(p.wall_s).toFixed(1)},${y(p[field]).toFixed(1)}`).join(" "),
      fill: "none", stroke: color, "stroke-width": 2, "stroke-linejoin": "round",
    }));
    box.replaceChildren(root);
  }
  async function loadCharts() {
    const span = Number($("chart-span").value);
    const until = snap ? snap.wall_s : Date.now() / 1000;
    try {
      const data = await api("GET", `/api/series?since=${until - span}&until=${until}&points=300&fields=soc_pct,voltage_v,current_a`);
      chart($("chart-soc"), "State of charge", "%", data.points, "soc_pct", "#2e9b5f", 1);
      chart($("chart-voltage"), "Voltage", "V", data.points, "voltage_v", "#2b6cb0", 2);
      chart($("chart-current"), "Current", "A", data.points, "current_a", "#c05621", 1);
      $("chart-note").textContent = `${data.points.length} points; shaded band = minimum to maximum.`;
    } catch (e) { $("chart-note").textContent = detailText(e.detail); }
  }

  // --- tabs -----------------------------------------------------------------------------------
  let refreshTimer = null;
  function showTab(name) {
    currentTab = name;
    for (const b of document.querySelectorAll(".tabs button")) {
      const active = b.dataset.tab === name;
      b.classList.toggle("active", active);
      b.setAttribute("aria-selected", String(active));
    }
    for (const p of document.querySelectorAll(".page")) p.hidden = p.dataset.page !== name;
    if (refreshTimer) { clearInterval(refreshTimer); refreshTimer = null; }
    if (snap) render(snap);
    if (name === "log") { loadLog(); refreshTimer = setInterval(loadLog, 10000); }
    if (name === "charts") { loadCharts(); refreshTimer = setInterval(loadCharts, 30000); }
  }

  // --- wiring ---------------------------------------------------------------------------------
  function wire() {
    $("login-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      $("login-error").textContent = "";
      $("login-button").disabled = true;
      try {
        await api("POST", "/api/login", { pin: $("pin").value });
        $("pin").value = "";
        showApp();
      } catch (e) {
        $("login-error").textContent = detailText(e.detail);
      } finally {
        $("login-button").disabled = false;
      }
    });
    $("logout").addEventListener("click", async () => {
      try { await api("POST", "/api/logout"); } catch (_) { /* gone already */ }
      showLogin("Logged out.");
    });
    for (const b of document.querySelectorAll(".tabs button")) b.addEventListener("click", () => showTab(b.dataset.tab));
    $("mode-switch").addEventListener("click", () => {
      const on = snap && snap.status.mode === "on";
      const next = on ? "off" : "on";
      if (on && !window.confirm("Switch the BMS off? Loads and chargers will be disconnected.")) return;
      api("POST", "/api/actions/mode", { value: next }).catch((e) => banner(detailText(e.detail)));
    });
    $("battery-select").addEventListener("change", (ev) => {
      selectedBattery = Number(ev.target.value);
      if (snap) renderBattery(snap);
    });
    $("chart-span").addEventListener("change", loadCharts);
    $("log-refresh").addEventListener("click", loadLog);
    $("settings-form").addEventListener("submit", saveSettings);
    $("settings-reset").addEventListener("click", async () => {
      await action("/api/actions/reset_defaults", undefined, "settings-msg", "Settings reset to defaults.",
        "Reset the battery monitor settings to their defaults?");
      for (const input of $("settings-fields").querySelectorAll("input")) delete input.dataset.dirty;
    });
    $("act-sync").addEventListener("click", () => action("/api/actions/sync_soc", undefined, null, "SoC synchronised to 100 %."));
    $("set-soc-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      action("/api/actions/set_soc", { value_pct: Number($("set-soc").value) }, null, "SoC set.");
    });
    for (const b of document.querySelectorAll("[data-mode]")) {
      b.addEventListener("click", () => action("/api/actions/mode", { value: b.dataset.mode }, null, `Mode ${b.dataset.mode}.`));
    }
    for (const b of document.querySelectorAll("[data-wireless]")) {
      b.addEventListener("click", () => action("/api/actions/wireless", { value: b.dataset.wireless }, null,
        b.dataset.wireless === "on" ? "Wireless access enabled." : "Wireless access disabled.",
        b.dataset.wireless === "off" ? "Disable wireless access? This page will stop working, except for 30 s after each power-up of the BMS." : null));
    }
    $("act-accept-bank").addEventListener("click", () => action("/api/actions/accept_bank", undefined, null, "Bank accepted."));
    $("act-reset-history").addEventListener("click", () => action("/api/actions/reset_history", undefined, null, "History reset.", "Clear all history counters?"));
    $("firmware-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      action("/api/actions/firmware_update", { result: $("firmware-result").value });
    });
    $("pin-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      if ($("pin-new").value !== $("pin-new2").value) {
        $("pin-msg").textContent = "The two new PINs differ."; $("pin-msg").className = "status-msg bad";
        return;
      }
      action("/api/actions/change_pin", { old: $("pin-old").value, new: $("pin-new").value }, "pin-msg", "PIN changed.")
        .then(() => { for (const id of ["pin-old", "pin-new", "pin-new2"]) $(id).value = ""; });
    });
  }

  async function boot() {
    wire();
    try {
      await api("GET", "/api/status");
      showApp();
    } catch (e) {
      if (e.status === 401) showLogin();
      else { showLogin(detailText(e.detail)); }
    }
  }
  document.addEventListener("DOMContentLoaded", boot);
})();
