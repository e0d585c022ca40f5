"use strict";
const LABELS = {body_length_cm: "Body length", withers_height_cm: "Withers height",
  rump_height_cm: "Rump height", chest_depth_cm: "Chest depth", chest_width_cm: "Chest width",
  hip_width_cm: "Hip width", heart_girth_cm: "Heart girth", weight_kg: "Estimated weight"};
const CAPTURE_TIMEOUT_MS = 30000;
const NO_ANSWER = "The Pi did not answer. The capture may have been stored: check Recent before retaking.";
const $ = (id) => document.getElementById(id);
let goat = null;        // the identified goat, for the next capture
let shown = null;       // the capture on screen
let waitingFor = false; // a capture this tablet asked for is running

class Refused extends Error {}

function detailText(detail) {
  // FastAPI's validation errors are a list; name the field and the problem.
  if (Array.isArray(detail)) return detail.map(d => `${(d.loc || []).slice(-1)[0]}: ${d.msg}`).join("; ");
  return String(detail ?? "");
}

async function api(path, options = {}, timeoutMs = 10000) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let response;
  try {
    response = await fetch(path, {...options, signal: controller.signal, credentials: "same-origin",
      headers: {"Content-Type": "application/json", ...(options.headers || {})}});
  } catch (err) {
    throw new Error(NO_ANSWER);
  } finally {
    clearTimeout(timer);
  }
  if (response.status === 401 && path !== "/api/session") {
    showLogin();
    throw new Refused("Enter this Pi's access code first.");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Refused(detailText(body.detail) || `The Pi refused (${response.status}).`);
    error.status = response.status;
    throw error;
  }
  return body;
}

function banner(kind, html) { $("banner").className = kind; $("banner").innerHTML = html; }
function esc(text) { const d = document.createElement("div"); d.textContent = text ?? ""; return d.innerHTML; }
function clearResult() {
  $("measurements").innerHTML = ""; $("images").innerHTML = ""; $("growth").innerHTML = "";
  $("result-actions").hidden = true; shown = null;
}

function signed(value, unit, digits = 1) { return (value > 0 ? "+" : value < 0 ? "−" : "") + Math.abs(value).toFixed(digits) + unit; }

function renderGrowth(growth) {
  if (!growth || !growth.previous_capture_id) { $("growth").textContent = ""; return; }
  const days = growth.days_since_previous;
  const when = days >= 1 ? `${Math.round(days)} days ago` : "earlier today";
  let text = `Since last capture (${when}): weight ${signed(growth.weight_change_kg, " kg")}`;
  if (growth.heart_girth_change_cm !== null) text += `, girth ${signed(growth.heart_girth_change_cm, " cm")}`;
  if (growth.average_daily_gain_kg !== null) text += `; gain ${signed(growth.average_daily_gain_kg, " kg/day", 2)}`;
  let html = `<span id="change">${esc(text)}</span>`;
  if (growth.flagged) {
    const way = growth.off_trend_pct < 0 ? "below" : "above";
    html += `<span class="flag" id="trend-flag">⚠ ${Math.abs(growth.off_trend_pct).toFixed(0)} % ${way} this goat's trend ` +
      `(about ${growth.trend_weight_kg.toFixed(1)} kg expected): check the goat, its tag and the photos.</span>`;
  }
  $("growth").innerHTML = html;
}

function render(capture, note = "") {
  clearResult();
  shown = capture;
  const who = capture.goat_tag ? `goat ${esc(capture.goat_tag)}` : "no goat named";
  if (capture.status === "retake") {
    banner("retake", `<span class="big">RETAKE</span>${retakeSteps(capture.reason)}<small>${who}${note}</small>`);
  } else {
    banner("ok", `✓ Measured ${who}${note}`);
    renderGrowth(capture.growth);
    for (const [name, label] of Object.entries(LABELS)) {
      const value = capture.measurements[name];
      const unit = name.endsWith("_kg") ? " kg" : " cm";
      const row = $("measurements").insertRow();
      row.insertCell().textContent = label;
      const cell = row.insertCell();
      cell.className = "value";
      cell.textContent = value === null ? "—" : value.toFixed(1) + unit;
      const plusMinus = (capture.measurement_uncertainty || {})[name];
      const note = row.insertCell();
      note.className = "note";
      // Why a number is missing (too unsure, a landmark not found) is what the associate can act on.
      note.textContent = value === null ? (capture.measurement_reasons[name] || "")
        : plusMinus !== undefined ? "± " + plusMinus.toFixed(1) + unit : "";
    }
  }
  $("result-actions").hidden = false;
  $("fix-tag").value = capture.goat_tag || "";
  for (const view of ["side", "top", "front"]) {
    const img = document.createElement("img");
    img.alt = view + " camera";
    img.src = `/api/captures/${capture.id}/images/${view}?kind=annotated`;
    img.addEventListener("click", () => enlarge(img.src));
    $("images").appendChild(img);
  }
}

function retakeSteps(reason) {
  // Each problem reads "<cameras>: <what they saw>: <what to do>"; the associate needs the
  // last part first, in large type, and the rest as the reason.
  return (reason || "").split("; ").map(part => {
    const pieces = part.split(": ");
    if (pieces.length < 3) return `<span class="step">${esc(part)}</span>`;
    const todo = pieces.slice(2).join(": ");
    return `<span class="step">${esc(todo.charAt(0).toUpperCase() + todo.slice(1))}.</span>` +
      `<span class="why">${esc(pieces[0])}: ${esc(pieces[1])}</span>`;
  }).join("");
}

function enlarge(src) { $("overlay").querySelector("img").src = src; $("overlay").hidden = false; }
$("overlay-close").addEventListener("click", () => { $("overlay").hidden = true; });

function setGoat(found) {
  goat = found;
  $("goat-chip").textContent = found ? `Goat ${found.tag}${found.name ? " · " + found.name : ""}` : "";
}

async function identify(text) {
  const tag = text.trim();
  $("register").hidden = true;
  if (!tag) { setGoat(null); return; }
  try {
    setGoat(await api(`/api/goats/${encodeURIComponent(tag)}`));
  } catch (err) {
    if (err.status === 404) { offerRegister(tag); return; }
    banner("error", esc(err.message));
  }
}

function offerRegister(tag) {
  setGoat(null);
  $("register-title").textContent = `No goat with tag ${tag} yet.`;
  $("reg-tag").value = tag;
  for (const id of ["reg-name", "reg-breed", "reg-sex", "reg-born"]) $(id).value = "";
  $("register").hidden = false;
  $("reg-name").focus();
}

$("identify").addEventListener("submit", (event) => { event.preventDefault(); identify($("tag").value); });
$("register-cancel").addEventListener("click", () => { $("register").hidden = true; });
$("register").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = {tag: $("reg-tag").value.trim(), name: $("reg-name").value.trim() || null,
    breed: $("reg-breed").value.trim() || null, sex: $("reg-sex").value || null,
    birth_date: $("reg-born").value || null};
  try {
    const created = await api("/api/goats", {method: "POST", body: JSON.stringify(body)});
    $("register").hidden = true;
    $("tag").value = created.tag;
    setGoat(created);
  } catch (err) {
    banner("error", esc(err.message));
  }
});

$("capture").addEventListener("click", async () => {
  // Disabled at once: a gloved double tap must not start a second capture.
  $("capture").disabled = true;
  waitingFor = true;
  const tag = $("tag").value.trim();
  if (!tag) setGoat(null);  // the box emptied after Find: no goat named
  if (tag && (!goat || goat.tag.toLowerCase() !== tag.toLowerCase())) {
    await identify(tag);  // typed but not looked up yet: an unknown tag is offered for registering
    if (!goat) { waitingFor = false; $("capture").disabled = false; return; }
  }
  clearResult();
  banner("measuring", "Measuring… keep the goat still.");
  try {
    const capture = await api("/api/captures", {method: "POST",
      body: JSON.stringify({goat_tag: goat ? goat.tag : null})}, CAPTURE_TIMEOUT_MS);
    render(capture);
    if (capture.status === "ok") {  // after a retake the same goat is still in the chute
      $("tag").value = "";  // the next goat must not get this one's tag
      setGoat(null);
    }
  } catch (err) {
    banner("error", esc(err.message));
  } finally {
    waitingFor = false;
    $("capture").disabled = false;
    refreshRecent();
  }
});

$("fix-goat").addEventListener("click", async () => {
  if (!shown) return;
  const tag = $("fix-tag").value.trim();
  try {
    const fixed = await api(`/api/captures/${shown.id}/goat`, {method: "PUT", body: JSON.stringify({tag})});
    render(fixed, " (goat set after the capture)");
    refreshRecent();
  } catch (err) {
    if (err.status === 404 && tag) { offerRegister(tag); return; }
    banner("error", esc(err.message));
  }
});

async function refreshRecent() {
  try {
    const captures = await api("/api/captures?limit=30");
    const tags = [...new Set(captures.map(c => c.goat_tag).filter(Boolean))].slice(0, 8);
    $("recent-goats").innerHTML = "";
    for (const tag of tags) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = tag;
      b.title = "use goat " + tag;
      b.addEventListener("click", () => { $("tag").value = tag; identify(tag); });
      $("recent-goats").appendChild(b);
    }
    $("recent").innerHTML = "";
    for (const c of captures.slice(0, 10)) {
      const b = document.createElement("button");
      const time = new Date(c.captured_at).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
      b.textContent = `${time} ${c.goat_tag || "no goat"} ${c.status === "ok" ? "✓" : "retake"}`;
      b.addEventListener("click", async () => render(await api(`/api/captures/${c.id}`)));
      $("recent").appendChild(b);
    }
  } catch (err) { /* the status badge says the Pi is not answering */ }
}

async function health() {
  // 503 is an answer too: the Pi works, and says which of its parts does not.
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 5000);
  try {
    const response = await fetch("/api/health", {signal: controller.signal, credentials: "same-origin"});
    return await response.json();
  } finally {
    clearTimeout(timer);
  }
}

async function refreshStatus() {
  try {
    const state = await health();
    if (state.problems && state.problems.length) {
      $("status").className = "problem";
      $("status").textContent = "Pi needs attention: " + state.problems.join("; ");
      return;
    }
    if (!state.outbox) {  // not logged in yet: the Pi says only whether all is well
      $("status").className = state.status === "ok" ? "" : "problem";
      $("status").textContent = state.status === "ok" ? "Pi connected" : "Pi needs attention";
      return;
    }
    const waiting = state.outbox.pending || 0;
    const sync = state.sync;
    let text = "Pi connected · ";
    if (!sync.configured) text += "cloud sync not set up";
    else {
      text += waiting ? `${waiting} waiting to upload since ${new Date(sync.oldest_waiting_at).toLocaleString()}` : "all uploaded";
      text += sync.last_success_at ? ` · last sync ${new Date(sync.last_success_at).toLocaleString()}` : " · never synced";
    }
    $("status").className = "";
    $("status").textContent = text;
  } catch (err) {
    $("status").className = "offline";
    $("status").textContent = "Pi not answering";
  }
}

function showLogin() { $("login").hidden = false; $("token").focus(); }
$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("/api/session", {method: "POST", body: JSON.stringify({token: $("token").value})});
    $("token").value = "";
    $("login").hidden = true;
    banner("", "");
    refreshRecent();
    listen();
  } catch (err) {
    banner("error", esc(err.message));
  }
});

let events = null;
function listen() {
  // Captures from the hardware button or another tablet appear here within a second.
  if (events) events.close();
  events = new EventSource("/api/events");
  events.addEventListener("capture", (event) => {
    const capture = JSON.parse(event.data);
    const correcting = document.activeElement === $("fix-tag");  // do not swap the capture being corrected
    if (!waitingFor && !correcting && (!shown || shown.id !== capture.id)) {
      render(capture, ` · from ${capture.trigger === "button" ? "the button" : "another tablet"}`);
    }
    refreshRecent();
  });
  events.addEventListener("open", refreshRecent);
  // A refused stream (before the access code) is not retried by the browser: try again later.
  events.addEventListener("error", () => { if (events.readyState === EventSource.CLOSED) setTimeout(listen, 5000); });
}

const VIEWS = {chute: "chute-view", goats: "goats-view", goat: "goat-view", alerts: "alerts-view"};
function showView(name) {
  for (const [key, id] of Object.entries(VIEWS)) $(id).hidden = key !== name;
  for (const key of ["chute", "goats", "alerts"]) {
    $("show-" + key).setAttribute("aria-pressed", String(key === name || (key === "goats" && name === "goat")));
  }
}
$("show-chute").addEventListener("click", () => showView("chute"));
$("show-goats").addEventListener("click", () => { showView("goats"); loadHerd(); });
$("show-alerts").addEventListener("click", () => { showView("alerts"); loadHerd(); });

function day(iso) { return iso ? iso.slice(0, 10) : "—"; }
function kg(value) { return value === null || value === undefined ? "—" : value.toFixed(1) + " kg"; }
function gain(value) { return value === null || value === undefined ? "—" : signed(value, " kg/day", 2); }

let herd = [];
async function loadHerd() {
  try { herd = await api("/api/herd"); } catch (err) { banner("error", esc(err.message)); return; }
  renderGoatList();
  const flagged = herd.filter(g => g.flagged);
  $("alert-list").innerHTML = flagged.length ? "" : "<tr><td>No goat is off its trend.</td></tr>";
  for (const g of flagged) {
    const row = $("alert-list").insertRow();
    row.insertCell().textContent = g.tag + (g.name ? " · " + g.name : "");
    const way = g.off_trend_pct < 0 ? "below" : "above";
    row.insertCell().textContent = `${kg(g.last_weight_kg)}: ${Math.abs(g.off_trend_pct).toFixed(0)} % ${way} its trend (${kg(g.trend_weight_kg)})`;
    row.className = "flagged";
    row.addEventListener("click", () => openGoat(g.tag));
  }
}

function renderGoatList() {
  const needle = $("goat-search").value.trim().toLowerCase();
  $("goat-list").innerHTML = "";
  const head = $("goat-list").createTHead().insertRow();
  for (const title of ["Tag", "Name", "Last capture", "Last weight", "Daily gain", ""]) head.insertCell().textContent = title;
  const body = $("goat-list").createTBody();
  for (const g of herd.filter(g => !needle || g.tag.toLowerCase().includes(needle) || (g.name || "").toLowerCase().includes(needle))) {
    const row = body.insertRow();
    for (const text of [g.tag, g.name || "", day(g.last_captured_at), kg(g.last_weight_kg), gain(g.average_daily_gain_kg), g.flagged ? "⚠ off trend" : ""]) {
      row.insertCell().textContent = text;
    }
    if (g.flagged) row.className = "flagged";
    row.addEventListener("click", () => openGoat(g.tag));
  }
}
$("goat-search").addEventListener("input", renderGoatList);
$("export").addEventListener("submit", () => {
  // Empty fields are left out, so that "all dates" and "all goats" mean what they say.
  for (const input of $("export").querySelectorAll("input")) input.disabled = !input.value.trim();
  setTimeout(() => { for (const input of $("export").querySelectorAll("input")) input.disabled = false; }, 0);
});

let openedGoat = null;  // the goat page's tag, for the tape form

async function openGoat(tag) {
  openedGoat = tag;
  let goatPage, captures;
  try {
    [goatPage, captures] = await Promise.all([api(`/api/goats/${encodeURIComponent(tag)}/summary`),
      api(`/api/goats/${encodeURIComponent(tag)}/captures`)]);
  } catch (err) { banner("error", esc(err.message)); return; }
  showView("goat");
  $("goat-title").textContent = `Goat ${goatPage.tag}${goatPage.name ? " · " + goatPage.name : ""}`;
  const facts = [goatPage.breed, goatPage.sex, goatPage.birth_date ? "born " + goatPage.birth_date : null,
    `${goatPage.captures} captures`, `daily gain ${gain(goatPage.average_daily_gain_kg)}`].filter(Boolean);
  $("goat-facts").textContent = facts.join(" · ");
  const good = captures.filter(c => c.status === "ok").reverse();
  const at = (iso) => new Date(iso).getTime();
  chart($("weight-chart"), good.filter(c => c.measurements.weight_kg !== null).map(c => [at(c.captured_at), c.measurements.weight_kg]),
    goatPage.scale_weights.map(w => [at(w.weighed_at), w.weight_kg]));
  chart($("girth-chart"), good.filter(c => c.measurements.heart_girth_cm !== null).map(c => [at(c.captured_at), c.measurements.heart_girth_cm]), []);
  $("history").innerHTML = "";
  const head = $("history").createTHead().insertRow();
  for (const title of ["Date", "Result", "Weight", "Girth", "Change", ""]) head.insertCell().textContent = title;
  const body = $("history").createTBody();
  for (const c of captures) {
    const row = body.insertRow();
    const g = c.growth || {};
    for (const text of [day(c.captured_at), c.status === "ok" ? "✓" : "retake", kg(c.measurements.weight_kg),
      c.measurements.heart_girth_cm === null ? "—" : c.measurements.heart_girth_cm.toFixed(1) + " cm",
      g.weight_change_kg === null || g.weight_change_kg === undefined ? "" : signed(g.weight_change_kg, " kg"),
      g.flagged ? "⚠ off trend" : ""]) row.insertCell().textContent = text;
    if (g.flagged) row.className = "flagged";
  }
  $("weights").innerHTML = goatPage.scale_weights.length ? "" : "<tr><td>None recorded.</td></tr>";
  for (const w of goatPage.scale_weights) {
    const row = $("weights").insertRow();
    row.insertCell().textContent = day(w.weighed_at);
    row.insertCell().textContent = kg(w.weight_kg);
    row.insertCell().textContent = w.notes || "";
  }
  $("taped").innerHTML = goatPage.taped.length ? "" : "<tr><td>None recorded.</td></tr>";
  for (const t of goatPage.taped) {
    const row = $("taped").insertRow();
    row.insertCell().textContent = day(t.measured_at);
    row.insertCell().textContent = t.name.replace(/_cm$/, "").replace(/_/g, " ");
    row.insertCell().textContent = t.value_cm.toFixed(1) + " cm";
  }
}

$("tape-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = $("tape-form");
  const value = Number(form.elements.value_cm.value);
  try {
    await api(`/api/goats/${encodeURIComponent(openedGoat)}/tape`, {method: "POST",
      body: JSON.stringify({measurements: {[form.elements.name.value]: value}})});
  } catch (err) { banner("error", esc(err.message)); return; }
  form.elements.value_cm.value = "";
  banner("", "");
  openGoat(openedGoat);
});

function chart(svg, points, squares) {
  // Drawn here, not by a charting library from a CDN: the farm may have no internet.
  const all = points.concat(squares);
  svg.innerHTML = "";
  if (!all.length) { svg.innerHTML = '<text x="20" y="110">No measurements yet.</text>'; return; }
  const xs = all.map(p => p[0]), ys = all.map(p => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs);
  const pad = Math.max((Math.max(...ys) - Math.min(...ys)) * 0.1, 1);
  const [y0, y1] = [Math.min(...ys) - pad, Math.max(...ys) + pad];
  const X = (x) => 60 + (x1 === x0 ? 260 : (x - x0) / (x1 - x0) * 560);
  const Y = (y) => 190 - (y - y0) / (y1 - y0) * 170;
  const ns = "http://www.w3.org/2000/svg";
  const add = (name, attrs, text) => {
    const e = document.createElementNS(ns, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text) e.textContent = text;
    svg.appendChild(e);
  };
  add("text", {x: 4, y: 24}, y1.toFixed(0));
  add("text", {x: 4, y: 194}, y0.toFixed(0));
  add("text", {x: 60, y: 214}, new Date(x0).toISOString().slice(0, 10));
  add("text", {x: 520, y: 214}, new Date(x1).toISOString().slice(0, 10));
  add("polyline", {points: points.map(p => `${X(p[0])},${Y(p[1])}`).join(" ")});
  for (const p of points) add("circle", {class: "estimate", cx: X(p[0]), cy: Y(p[1]), r: 6});
  for (const p of squares) add("rect", {class: "scale", x: X(p[0]) - 6, y: Y(p[1]) - 6, width: 12, height: 12});
}

(async () => {
  try {
    const session = await api("/api/session");
    if (session.token_required && !session.logged_in) showLogin();
  } catch (err) { /* refreshStatus says so */ }
  refreshStatus();
  setInterval(refreshStatus, 10000);
  refreshRecent();
  listen();
})();
