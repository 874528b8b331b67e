// smallBMS NG web app: plain JavaScript, no build step; the only library is uPlot, served from
// vendor/ with the pages (no CDN). Reads /api/* with the session cookie; state-changing calls send
// the X-CSRF-Token header. Live values come from /api/stream (Server-Sent Events); charts from
// /api/series. Labels, units and decimals come from the field table (/api/fields).
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

  // --- the field table and words (replaced by the server's at login) ---------------------------
  let FIELDS = {};  // "status.soc_pct" -> {label, unit, precision, key, ...}
  let WORDS = { reasons: {}, outputs: {}, balancer: {}, leds: { off: "off", blink: "blinking", on: "on" } };
  const label = (id, fallback) => (FIELDS[id] && FIELDS[id].label) || fallback;

  // --- formatting -----------------------------------------------------------------------------
  const DASH = "—";
  // a number with `digits` decimals; a rounded zero never shows a minus sign ("-0.0")
  function fixed(v, digits) {
    let s = Number(v).toFixed(digits);
    if (/^-0(\.0+)?$/.test(s)) s = s.slice(1);
    return s;
  }
  const num = (v, digits, unit) =>
    v === null || v === undefined || Number.isNaN(v) ? DASH : `${fixed(v, digits)}${unit ? ` ${unit}` : ""}`;
  // a value of the field table: its precision and unit
  function fmt(id, v, fallbackDigits = 1, fallbackUnit = "") {
    const f = FIELDS[id];
    return num(v, f && f.precision !== null ? f.precision : fallbackDigits, f ? f.unit || "" : fallbackUnit);
  }
  function duration(s) {
    if (s === null || s === undefined) return DASH;
    s = Math.max(0, Math.round(s));
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d > 0) return `${d} d ${h} h`;
    if (h > 0) return `${h} h ${String(m).padStart(2, "0")} min`;
    if (m > 0) return `${m} min`;
    return `${s} s`;
  }
  // device time (s since the device started) as a clock reading: "3:05", "2d 14:30", and with
  // seconds for short spans: "0:02:30"
  function deviceClock(t, seconds = false) {
    t = seconds ? Math.round(t) : Math.round(t / 60) * 60;
    const sign = t < 0 ? "-" : "";
    t = Math.abs(t);
    const d = Math.floor(t / 86400), h = Math.floor((t % 86400) / 3600), m = Math.floor((t % 3600) / 60);
    const two = (n) => String(n).padStart(2, "0");
    const sec = seconds ? `:${two(t % 60)}` : "";
    return sign + (d ? `${d}d ${two(h)}:${two(m)}${sec}` : `${h}:${two(m)}${sec}`);
  }
  function logTime(wall) {
    const d = new Date(wall * 1000), now = new Date();
    const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    if (d.toDateString() === now.toDateString()) return time;
    return `${d.toLocaleDateString([], { month: "short", day: "numeric" })} ${time}`;
  }
  const decimalsOf = (step) => {
    const s = String(step);
    return s.includes(".") ? s.length - s.indexOf(".") - 1 : 0;
  };

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
  const TABS = ["status", "battery", "history", "charts", "settings", "log"];
  let source = null;
  let snap = null;
  let settingsBuilt = false;
  let currentTab = "status";
  let selectedBattery = 0;
  let speed = null;  // device seconds per wall second, measured from the stream
  let speedRef = null;

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
  async function loadFields() {
    try {
      const t = await api("GET", "/api/fields");
      FIELDS = Object.fromEntries(t.fields.map((f) => [f.id, f]));
      WORDS = t;
      for (const e of document.querySelectorAll("[data-label]")) e.textContent = label(e.dataset.label, e.textContent);
    } catch (e) { console.error(e); }
  }
  async function showApp() {
    $("login-view").hidden = true;
    $("app-view").hidden = false;
    $("logout").hidden = false;
    banner("");
    await loadFields();
    startStream();
    showTab(tabFromHash());
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
  function measureSpeed(s) {
    // device time runs `speed` times faster than the wall clock (smallbms run --speed)
    if (!speedRef || s.t_s < speedRef.t_s) { speedRef = { t_s: s.t_s, wall_s: s.wall_s }; return; }
    const dw = s.wall_s - speedRef.wall_s;
    if (dw >= 1) speed = (s.t_s - speedRef.t_s) / dw;
  }
  function render(s) {
    snap = s;
    measureSpeed(s);
    renderStatus(s);
    if (currentTab === "battery") renderBattery(s);
    if (currentTab === "history") renderHistory(s);
    if (currentTab === "settings") renderSettings(s);
    $("foot").textContent = `Device time ${duration(s.t_s)} · updated ${new Date(s.wall_s * 1000).toLocaleTimeString()}`;
    $("foot").dataset.t = String(s.t_s);
  }

  function kv(dl, rows) {
    dl.replaceChildren(...rows.map(([k, v, id]) => {
      const dd = el("dd", { text: v });
      if (id) dd.id = id;
      return el("div", { class: "kv-row" }, el("dt", { text: k }), dd);
    }));
  }
  const reasonText = (r) => WORDS.reasons[r] || r.replaceAll("_", " ");

  function renderStatus(s) {
    const st = s.status;
    $("soc").textContent = st.soc_pct === null ? "--" : fixed(st.soc_pct, 1);
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
    const reasons = (ul, list) => ul.replaceChildren(...list.map((r) => el("li", { text: reasonText(r) })));
    reasons($("charge-reasons"), st.charge_reasons);
    reasons($("discharge-reasons"), st.discharge_reasons);

    $("voltage").textContent = fmt("status.voltage_v", st.voltage_v, 2, "V");
    $("current").textContent = fmt("status.current_a", st.current_a, 2, "A");
    $("power").textContent = fmt("status.power_w", st.power_w, 0, "W");
    $("consumed").textContent = fmt("status.consumed_ah", st.consumed_ah, 1, "Ah");
    $("time-remaining").textContent = st.time_remaining_s === null ? (st.current_a !== null && st.current_a < 0 ? DASH : "not discharging") : duration(st.time_remaining_s);

    kv($("outputs"), Object.entries(st.outputs).map(([k, v]) => {
      const good = k === "pre_alarm" ? v === "floating" : v === "high";
      return [WORDS.outputs[k] || k, `${v === "high" ? "High" : "Floating"}${good ? "" : " ⚠"}`];
    }));
    for (const name of ["bluetooth", "error"]) {
      const state = st.leds[name];
      $(`led-${name}`).className = `led ${name} ${state}`;
      $(`led-${name}-text`).textContent = WORDS.leds[state] || state;
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
    const bankVal = (name) => (b ? fmt(`bank.${name}`, b[name], 0) : DASH);
    kv($("bank-info"), [
      [label("status.balancer", "Balancer"), WORDS.balancer[st.balancer] || (st.balancer || DASH)],
      [label("status.min_cell_voltage_v", "Lowest cell voltage"), fmt("status.min_cell_voltage_v", st.min_cell_v, 3, "V")],
      [label("status.max_cell_voltage_v", "Highest cell voltage"), fmt("status.max_cell_voltage_v", st.max_cell_v, 3, "V")],
      [label("status.min_temperature_c", "Lowest temperature"), fmt("status.min_temperature_c", st.min_temperature_c, 1, "°C")],
      [label("status.max_temperature_c", "Highest temperature"), fmt("status.max_temperature_c", st.max_temperature_c, 1, "°C")],
      [label("bank.batteries", "Batteries"), bankVal("batteries")],
      [label("bank.cells_total", "Battery cells"), bankVal("cells_total")],
      [label("bank.series", "Batteries in series"), bankVal("series")],
      [label("bank.parallel", "Batteries in parallel"), bankVal("parallel")],
      [label("bank.nominal_voltage_v", "Nominal voltage"), b ? fmt("bank.nominal_voltage_v", b.nominal_voltage_v, 1, "V") : DASH],
      [label("bank.capacity_ah", "Capacity"), b ? fmt("bank.capacity_ah", b.capacity_ah, 0, "Ah") : DASH],
      [label("bank.energy_kwh", "Energy"), b ? fmt("bank.energy_kwh", b.energy_kwh, 2, "kWh") : DASH],
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
      [label("battery.serial", "Serial number"), bat.serial],
      [label("battery.model_id", "Model"), `Lithium NG ${bat.model_id}`],
      [label("battery.capacity_ah", "Nominal capacity"), fmt("battery.capacity_ah", bat.capacity_ah, 0, "Ah")],
      [label("battery.firmware", "Firmware"), bat.firmware],
      [label("battery.temperature_c", "Temperature"), fmt("battery.temperature_c", bat.temperature_c, 1, "°C")],
      [label("battery.voltage_v", "Voltage"), fmt("battery.voltage_v", bat.voltage_v, 2, "V")],
      [label("battery.current_a", "Current"), fmt("battery.current_a", bat.current_a, 2, "A")],
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
        el("span", { class: "cell-v", text: `${fixed(v, 3)} V` }));
    }));
  }

  function renderHistory(s) {
    const h = s.history;
    const row = (name, digits, unit) => [label(`history.${name}`, name), fmt(`history.${name}`, h[name], digits, unit)];
    kv($("history"), [
      row("deepest_discharge_ah", 1, "Ah"),
      row("cumulative_ah_drawn", 1, "Ah"),
      row("discharged_energy_kwh", 2, "kWh"),
      row("charged_energy_kwh", 2, "kWh"),
      [label("history.synchronisations", "Synchronisations"), String(h.synchronisations)],
      [label("history.cycles", "Charge cycles"), String(h.cycles)],
      [label("history.seconds_since_full_charge", "Last full charge"),
        h.seconds_since_full_charge === null ? "never" : `${duration(h.seconds_since_full_charge)} ago`],
      row("min_battery_voltage_v", 2, "V"),
      row("max_battery_voltage_v", 2, "V"),
      row("min_cell_voltage_v", 3, "V"),
      row("max_cell_voltage_v", 3, "V"),
      row("min_battery_temperature_c", 1, "°C"),
      row("max_battery_temperature_c", 1, "°C"),
    ]);
    const errs = h.last_errors;
    $("last-errors").replaceChildren(errs.length ?
      el("ul", { class: "plain" }, ...errs.slice().reverse().map((e) =>
        el("li", { text: `${e.code} — ${duration(s.t_s - e.t)} ago` }))) :
      el("p", { class: "muted", text: "No errors recorded." }));
  }

  // --- settings -------------------------------------------------------------------------------
  // The charged voltage is set per 12.8 V battery; the page shows and takes the bank's value
  // (x2 on a 25.6 V bank) and gives the per-battery value as help.
  const PER_BATTERY_V = 12.8;
  function scaleOf(sp, s) {
    if (sp.name !== "charged_voltage_v" || !s.bank) return 1;
    return Math.max(1, Math.round(s.bank.nominal_voltage_v / PER_BATTERY_V));
  }
  function specDisplay(sp, s) {
    const k = scaleOf(sp, s);
    const unit = sp.name === "charged_voltage_v" && s.bank ? "V" : sp.unit;  // the bank's volts
    const digits = decimalsOf(sp.step);
    return { k, unit, digits, min: sp.minimum * k, max: sp.maximum * k, step: sp.step * k, dflt: sp.default * k };
  }
  function settingHelp(sp, s, value) {
    const d = specDisplay(sp, s);
    const range = `${fixed(d.min, d.digits)}–${fixed(d.max, d.digits)} ${d.unit}, default ${fixed(d.dflt, d.digits)}.`;
    const per = d.k === 1 || value === undefined ? "" :
      ` That is ${fixed(value, d.digits)} V per 12.8 V battery (${d.k} in series).`;
    return `${range}${per} ${sp.help}`;
  }
  function buildSettings(s) {
    const box = $("settings-fields");
    box.replaceChildren(...s.settings.specs.map((sp) => {
      const d = specDisplay(sp, s);
      const input = el("input", {
        type: "number", id: `set-${sp.name}`, name: sp.name, min: String(d.min),
        max: String(d.max), step: String(Number(d.step.toFixed(6))), inputmode: "decimal",
      });
      input.value = fixed(s.settings.values[sp.name] * d.k, d.digits);
      input.addEventListener("input", () => { input.dataset.dirty = "1"; fieldMsg(sp.name, ""); });
      return el("div", { class: "setting" },
        el("label", { for: input.id, text: sp.label }),
        el("div", { class: "setting-input" }, input, el("span", { class: "unit", id: `unit-${sp.name}`, text: d.unit })),
        el("p", { class: "muted small", id: `help-${sp.name}`, text: settingHelp(sp, s, s.settings.values[sp.name]) }),
        el("p", { class: "msg-error", id: `msg-${sp.name}`, role: "alert" }));
    }));
    settingsBuilt = true;
  }
  function fieldMsg(name, text) {
    const m = $(`msg-${name}`);
    if (m) m.textContent = text;
  }
  function renderSettings(s) {
    if (!settingsBuilt) buildSettings(s);
    for (const sp of s.settings.specs) {
      const input = $(`set-${sp.name}`);
      const v = s.settings.values[sp.name];
      const d = specDisplay(sp, s);
      if (input && !input.dataset.dirty && document.activeElement !== input) input.value = fixed(v * d.k, d.digits);
      $(`help-${sp.name}`).textContent = settingHelp(sp, s, v);
    }
  }
  // the value to send: per battery, rounded to the setting's step; or a message for the owner
  function settingValue(sp, s, text) {
    if (text.trim() === "") return { error: "enter a value" };
    const n = Number(text);
    if (!Number.isFinite(n)) return { error: "enter a number" };
    const d = specDisplay(sp, s);
    const per = n / d.k;
    const rounded = Number((Math.round(per / sp.step) * sp.step).toFixed(d.digits));
    return { value: rounded, rounded: Math.abs(rounded - per) > 1e-9, shown: `${fixed(rounded * d.k, d.digits)} ${d.unit}` };
  }
  async function saveSettings(ev) {
    ev.preventDefault();
    const msg = $("settings-msg");
    if (!snap) return;
    const values = {}, notes = [];
    let bad = false;
    for (const sp of snap.settings.specs) {
      const input = $(`set-${sp.name}`);
      fieldMsg(sp.name, "");
      if (!input.dataset.dirty) continue;
      const r = settingValue(sp, snap, input.value);
      if (r.error) { fieldMsg(sp.name, r.error); bad = true; continue; }
      values[sp.name] = r.value;
      if (r.rounded) notes.push(`${sp.label} rounded to ${r.shown}`);
    }
    if (bad) { msg.textContent = "Not saved: a value is missing or not a number."; msg.className = "status-msg bad"; return; }
    if (!Object.keys(values).length) { msg.textContent = "Nothing changed."; msg.className = "status-msg"; return; }
    const floor = values.discharge_floor_pct, soc = snap.status.soc_pct;
    if (floor !== undefined && floor > snap.settings.values.discharge_floor_pct && soc !== null && soc <= floor &&
        !window.confirm(`The state of charge is ${fixed(soc, 1)} %. A discharge floor of ${floor} % switches the loads off at once. Save anyway?`)) {
      msg.textContent = "Not saved."; msg.className = "status-msg";
      return;
    }
    msg.textContent = "Saving…"; msg.className = "status-msg";
    try {
      const out = await api("PUT", "/api/settings", values);
      for (const sp of snap.settings.specs) {
        const input = $(`set-${sp.name}`);
        delete input.dataset.dirty;
        const d = specDisplay(sp, snap);
        input.value = fixed(out.values[sp.name] * d.k, d.digits);
      }
      msg.textContent = notes.length ? `Saved. ${notes.join("; ")} (the setting's step).` : "Saved.";
      msg.className = "status-msg ok";
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

  // --- log ------------------------------------------------------------------------------------
  async function loadLog() {
    try {
      const rows = await api("GET", "/api/codes?limit=200");
      $("log-body").replaceChildren(...rows.map((r) => el("tr", { class: r.state },
        el("td", { class: "time", text: logTime(r.wall_s) }), el("td", { class: "code", text: r.code }),
        el("td", { class: "state", text: r.state === "active" ? "raised" : "cleared" }),
        el("td", { class: "name", text: r.name || "" }))));
      $("log-note").textContent = rows.length ? "" : "No warnings, alarms or errors recorded yet.";
    } catch (e) { $("log-note").textContent = detailText(e.detail); }
  }

  // --- charts (uPlot) -------------------------------------------------------------------------
  const CHARTS = [
    { box: "chart-soc", title: "State of charge", series: [["status.soc_pct", "SoC", "#2e9b5f"]] },
    { box: "chart-voltage", title: "Voltage", series: [["status.voltage_v", "Voltage", "#2b6cb0"]] },
    { box: "chart-current", title: "Current", series: [["status.current_a", "Current", "#c05621"]] },
    { box: "chart-power", title: "Power", series: [["status.power_w", "Power", "#805ad5"]] },
    { box: "chart-temperature", title: "Battery temperature", series: [
      ["status.min_temperature_c", "lowest", "#2f80ed"], ["status.max_temperature_c", "highest", "#d14343"]] },
    { box: "chart-cells", title: "Cell voltage", series: [
      ["status.min_cell_voltage_v", "lowest", "#d98c12"], ["status.max_cell_voltage_v", "highest", "#1f4e8c"]] },
  ];
  // time-axis steps in device seconds; below a minute the labels show seconds, so no two ticks
  // ever read alike
  const TIME_INCRS = [10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];
  const AXIS_FONT = "12px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
  const plots = {};
  const keyOf = (id) => (FIELDS[id] ? FIELDS[id].key : id.split(".")[1]);
  const digitsOf = (id, fallback) => (FIELDS[id] && FIELDS[id].precision !== null ? FIELDS[id].precision : fallback);
  const unitOf = (id) => (FIELDS[id] && FIELDS[id].unit) || "";

  function chartSize(box) {
    const w = Math.max(200, box.clientWidth);
    return { width: w, height: w < 500 ? 170 : 210 };
  }
  // value-axis steps: 1, 2 and 5 times a power of ten, no finer than the field's precision, so
  // every tick label is exact at that many decimals and no two read alike
  function yIncrs(id) {
    const p = Math.max(0, digitsOf(id, 2));
    const out = [];
    for (let k = -p; k <= 6; k++) for (const m of [1, 2, 5]) out.push(Number((m * 10 ** k).toFixed(p)));
    return out;
  }
  function decimalsFor(incr) {
    let d = 0;
    while (d < 8 && Math.abs(Math.round(incr * 10 ** d) - incr * 10 ** d) > 1e-6) d++;
    return d;
  }
  function yTicks(box, splits, incr) {
    const d = decimalsFor(incr);
    const out = splits.map((v) => (v === null ? "" : fixed(v, d)));
    box.dataset.yticks = JSON.stringify(out);
    return out;
  }
  // the value axis: the data with a little room; a flat line gets a band around it, not 0..20
  function yRange(u, min, max) {
    if (min === null || max === null) return [0, 1];
    const span = max - min;
    const pad = span > 1e-9 ? span * 0.1 : Math.max(Math.abs(max) * 0.01, 0.05);
    return [min - pad, max + pad];
  }
  function drawChart(def, xs, ys, xRange) {
    const box = $(def.box);
    const first = def.series[0][0];
    const unit = unitOf(first);
    const last = ys.map((col) => { for (let i = col.length - 1; i >= 0; i--) if (col[i] !== null) return col[i]; return null; });
    const nowText = last.every((v) => v === null) ? "" :
      ` — now ${last.map((v) => (v === null ? DASH : fixed(v, digitsOf(first, 2)))).join(" / ")} ${unit}`;
    const head = el("h3", { text: `${def.title} (${unit})` }, el("span", { class: "now", text: nowText }));
    const plotBox = el("div", { class: "plot" });
    if (plots[def.box]) { plots[def.box].destroy(); delete plots[def.box]; }
    box.replaceChildren(head, plotBox);
    if (xs.length < 2) {
      plotBox.append(el("p", { class: "empty", text: "Not enough samples yet." }));
      return;
    }
    box.dataset.xmin = String(xRange[0]);
    box.dataset.xmax = String(xRange[1]);
    const opts = {
      ...chartSize(box),
      scales: { x: { time: false, range: () => xRange }, y: { range: yRange } },
      axes: [
        {
          font: AXIS_FONT, incrs: TIME_INCRS, space: 70, size: 36,
          values: (u, splits, ax, space, incr) => {
            const out = splits.map((t) => deviceClock(t, incr < 60));
            box.dataset.xticks = JSON.stringify(out);
            return out;
          },
        },
        {
          font: AXIS_FONT, space: 28, incrs: yIncrs(first), values: (u, splits, ax, space, incr) => yTicks(box, splits, incr),
          // wide enough for the longest tick label (about 7 px a character at 12 px)
          size: (u, values) => (values ? 18 + 7.5 * Math.max(2, ...values.map((v) => String(v).length)) : 40),
        },
      ],
      series: [
        { label: "device time", value: (u, v) => (v === null ? DASH : deviceClock(v)) },
        ...def.series.map(([id, name, color]) => ({
          label: name, stroke: color, width: 2, spanGaps: false,
          value: (u, v) => (v === null ? DASH : `${fixed(v, digitsOf(id, 2))} ${unitOf(id)}`),
        })),
      ],
      legend: { live: box.clientWidth >= 500 },
      cursor: { drag: { x: false, y: false } },
    };
    plots[def.box] = new uPlot(opts, [xs, ...ys], plotBox);
  }
  async function loadCharts() {
    const spanDevice = Number($("chart-span").value);
    const sp = speed && speed > 0 ? speed : 1;
    const untilWall = snap ? snap.wall_s : Date.now() / 1000;
    const fields = [...new Set(CHARTS.flatMap((c) => c.series.map(([id]) => keyOf(id))))];
    try {
      const data = await api("GET", `/api/series?since=${untilWall - spanDevice / sp}&until=${untilWall}&points=300&fields=${fields.join(",")}`);
      // device time of each sample: the snapshot's device time, back by the wall time between
      const ref = snap || { t_s: 0, wall_s: untilWall };
      const xs = data.points.map((p) => ref.t_s - (ref.wall_s - p.wall_s) * sp);
      // the axis spans the chosen device time, or less when the records are younger
      const xRange = [xs.length ? Math.max(ref.t_s - spanDevice, Math.min(xs[0], Math.max(0, ref.t_s - 60))) : ref.t_s - spanDevice, ref.t_s];
      for (const def of CHARTS) {
        drawChart(def, xs, def.series.map(([id]) => data.points.map((p) => {
          const v = p[keyOf(id)];
          return v === undefined ? null : v;
        })), xRange);
      }
      const speedNote = sp === 1 ? "" : ` The device runs ${fixed(sp, sp < 10 ? 1 : 0)}× faster than the clock; the axis shows device time.`;
      $("chart-note").textContent = `${data.points.length} points, device time (h:min since the start).${speedNote}`;
    } catch (e) { $("chart-note").textContent = detailText(e.detail); }
  }
  window.addEventListener("resize", () => {
    for (const [box, u] of Object.entries(plots)) u.setSize(chartSize($(box)));
  });

  // --- tabs (each has a URL: #status, #battery, ...) ------------------------------------------
  let refreshTimer = null;
  function tabFromHash() {
    const name = location.hash.replace(/^#/, "");
    return TABS.includes(name) ? name : "status";
  }
  function showTab(name) {
    currentTab = name;
    for (const b of document.querySelectorAll(".tabs [data-tab]")) {
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
        await showApp();
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
    window.addEventListener("hashchange", () => { if (!$("app-view").hidden) showTab(tabFromHash()); });
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
    $("act-reset-history").addEventListener("click", () => action("/api/actions/reset_history", undefined, null, "History reset.", "Clear all history counters?"));
    // simulation controls: each asks first
    $("act-accept-bank").addEventListener("click", () => action("/api/actions/accept_bank", undefined, "sim-msg", "Bank accepted.",
      "Simulation: accept the batteries found now as the bank? The BMS then checks against this bank."));
    $("firmware-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const result = $("firmware-result").value;
      const what = result === "fail" ?
        "Simulation: start a battery firmware update that FAILS? Charging stops during it, and the loads are cut 120 s after the failure." :
        "Simulation: start a battery firmware update? Charging stops while it runs.";
      action("/api/actions/firmware_update", { result }, "sim-msg", null, what);
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
      await showApp();
    } catch (e) {
      if (e.status === 401) showLogin();
      else { showLogin(detailText(e.detail)); }
    }
  }
  window.smallbmsFormat = { fixed, deviceClock };  // for the browser tests
  document.addEventListener("DOMContentLoaded", boot);
})();
