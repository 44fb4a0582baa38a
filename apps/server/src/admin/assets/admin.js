// jcselect control room: fills the page from /admin/api/overview every
// few seconds, without reloading: the first answer has every pen, each
// later one only the pens whose rows changed since (and those gone). Sorts
// by a column, filters by town, shows a page of rows at a time (worst
// first), and opens a pen's stations. Names are shown as written
// (dir="auto"), so Arabic reads right to left in either language.
"use strict";

const POLL_MS = 3000;
const PAGE_ROWS = 100;
const WORDS = {
  en: {
    town: "Town", label: "Pen", health: "State", stations: "Stations", last: "Last sync",
    unsent: "Unsent", since: "Unsent since", parked: "Parked", turnout: "Turnout",
    user: "User", version: "Program", pending: "Pending", retry: "Retrying", clock: "Clock offset",
    all_towns: "All towns", updated: "Updated", failed: "Cannot reach the server; retrying",
    centre: "Stations of the centre", green: "on time", amber: "falling behind", red: "needs attention",
    station: "Station", conflicts: "Conflicts today", duplicates: "Duplicate marks today",
    incidents: "Conflicts and duplicate marks", field: "Field", kept: "Kept", dropped: "Dropped",
    SYNC_CONFLICT: "Conflict", DUPLICATE_VOTE_MARK: "Duplicate mark", by: "by",
    turnout_day: "Votes per hour today", parked_changes: "Parked changes", record: "Record", attempts: "Attempts", reason: "The server's reason",
    none: "no station", never: "never", ago: "ago", s: "s", min: "min", h: "h",
    pens: "pens", red_pens: "red", amber_pens: "amber", unsent_total: "unsent changes",
    parked_total: "parked", voted: "voted", close: "Close", of_pen: "Stations of",
    no_stations: "No station of this pen has synced yet.",
    previous: "Previous", next: "Next", of: "of",
  },
  ar: {
    town: "البلدة", label: "القلم", health: "الحالة", stations: "المحطات", last: "آخر مزامنة",
    unsent: "غير مرسل", since: "غير مرسل منذ", parked: "موقوف", turnout: "نسبة الاقتراع",
    user: "المستخدم", version: "البرنامج", pending: "بانتظار الإرسال", retry: "إعادة المحاولة",
    clock: "فرق الساعة", all_towns: "كل البلدات", updated: "آخر تحديث",
    failed: "تعذر الوصول إلى الخادم، إعادة المحاولة", centre: "محطات المركز",
    green: "في الوقت", amber: "يتأخر", red: "يحتاج متابعة", none: "لا محطة", never: "أبداً",
    station: "المحطة", conflicts: "تعارضات اليوم", duplicates: "تأشير مكرر اليوم",
    incidents: "التعارضات والتأشير المكرر", field: "الحقل", kept: "المعتمد", dropped: "المستبعد",
    SYNC_CONFLICT: "تعارض", DUPLICATE_VOTE_MARK: "تأشير مكرر", by: "بواسطة",
    turnout_day: "الأصوات في كل ساعة اليوم", parked_changes: "التغييرات الموقوفة", record: "السجل", attempts: "المحاولات", reason: "سبب الخادم",
    ago: "مضت", s: "ث", min: "د", h: "س", pens: "أقلام", red_pens: "أحمر", amber_pens: "برتقالي",
    unsent_total: "تغييرات غير مرسلة", parked_total: "موقوفة", voted: "اقترعوا", close: "إغلاق",
    of_pen: "محطات", no_stations: "لم تتزامن أي محطة لهذا القلم بعد.",
    previous: "السابق", next: "التالي", of: "من",
  },
};
const lang = document.body.dataset.lang === "ar" ? "ar" : "en";
const t = (key) => WORDS[lang][key] || key;
const RANK = { none: 0, green: 1, amber: 2, red: 3 };

// what the server said so far: every pen by id, and the version to ask
// for what changed after it
const known = new Map();
let version = null;
let overview = null;
let sort = { key: "health", up: false };
let openPen = null;
let page = 0;

function ago(iso, now) {
  if (!iso) return t("never");
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds} ${t("s")} ${t("ago")}`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} ${t("min")} ${t("ago")}`;
  return `${Math.floor(seconds / 3600)} ${t("h")} ${Math.floor((seconds % 3600) / 60)} ${t("min")} ${t("ago")}`;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  td.dir = "auto";
  if (className) td.className = className;
  return td;
}

function lastSync(pen) {
  const times = pen.stations.map((s) => Date.parse(s.last_seen_at));
  return times.length ? Math.max(...times) : 0;
}

const COLUMNS = [
  ["town", (p) => p.town_name],
  ["label", (p) => p.label],
  ["health", (p) => RANK[p.health]],
  ["stations", (p) => p.stations.length],
  ["last", (p) => lastSync(p)],
  ["unsent", (p) => p.unsent],
  ["since", (p) => (p.oldest_unsent_at ? -Date.parse(p.oldest_unsent_at) : -Infinity)],
  ["parked", (p) => p.parked],
  ["conflicts", (p) => p.conflicts_today],
  ["duplicates", (p) => p.duplicates_today],
  ["turnout", (p) => (p.voters ? p.voted / p.voters : 0)],
];

function header(table, columns, sortable) {
  const row = document.createElement("tr");
  for (const [key] of columns) {
    const th = document.createElement("th");
    th.textContent = t(key);
    th.dataset.key = key;
    if (sortable) {
      if (sort.key === key) th.className = sort.up ? "sorted up" : "sorted";
      th.addEventListener("click", () => {
        sort = { key, up: sort.key === key ? !sort.up : false };
        page = 0;
        render();
      });
    }
    row.appendChild(th);
  }
  table.tHead.replaceChildren(row);
}

function stationRows(stations, now) {
  return stations.map((s) => {
    const tr = document.createElement("tr");
    tr.className = `station ${s.health}`;
    tr.dataset.client = s.client_id;
    tr.append(
      cell(s.username), cell(s.client_id), cell(s.version), cell(`${t(s.health)}`, "health"),
      cell(ago(s.last_seen_at, now)), cell(String(s.pending), "num"), cell(String(s.retry), "num"),
      cell(String(s.parked), "num"), cell(s.oldest_unsent_at ? ago(s.oldest_unsent_at, now) : "–"),
      cell(`${s.clock_offset_seconds.toFixed(1)} ${t("s")}`, "num"),
    );
    return tr;
  });
}
const STATION_COLUMNS = [["user"], ["station"], ["version"], ["health"], ["last"], ["pending"], ["retry"], ["parked"], ["since"], ["clock"]];

function renderDetail(now) {
  const detail = document.getElementById("detail");
  const pen = overview.pens.find((p) => p.id === openPen);
  if (!pen) { detail.hidden = true; return; }
  detail.hidden = false;
  const title = document.createElement("h2");
  title.dir = "auto";
  title.textContent = `${t("of_pen")} ${pen.town_name} / ${pen.label}`;
  const close = document.createElement("button");
  close.textContent = t("close");
  close.addEventListener("click", () => { openPen = null; render(); });
  const parts = [title, close];
  if (pen.stations.length === 0) {
    const p = document.createElement("p");
    p.textContent = t("no_stations");
    parts.push(p);
  } else {
    const table = document.createElement("table");
    table.id = "pen-stations";
    table.createTHead();
    table.createTBody();
    header(table, STATION_COLUMNS, false);
    table.tBodies[0].replaceChildren(...stationRows(pen.stations, now));
    parts.push(table);
    const parked = pen.stations.flatMap((s) => s.parked_changes.map((change) => [s, change]));
    if (parked.length) {
      const heading = document.createElement("h3");
      heading.textContent = t("parked_changes");
      const list = document.createElement("table");
      list.id = "parked-changes";
      list.createTHead();
      list.createTBody();
      header(list, [["user"], ["record"], ["attempts"], ["reason"]], false);
      list.tBodies[0].replaceChildren(...parked.map(([s, change]) => {
        const tr = document.createElement("tr");
        tr.dataset.entity = change.entity_id;
        tr.append(
          cell(s.username), cell(`${change.entity_type} ${change.entity_id}`),
          cell(String(change.attempts), "num"), cell(change.reason || "–"),
        );
        return tr;
      }));
      parts.push(heading, list);
    }
  }
  const chart = document.createElement("div");
  chart.id = "turnout-chart";
  parts.push(chart);
  drawTurnout(pen.id, chart);
  if (pen.incidents.length) {
    const heading = document.createElement("h3");
    heading.textContent = t("incidents");
    parts.push(heading, ...pen.incidents.map((incident) => incidentBlock(incident, now)));
  }
  detail.replaceChildren(...parts);
}

// The pen's votes per hour of the day (the browser's time), as bars; the
// last chart drawn stands in while the next is fetched.
let lastChart = null;
async function drawTurnout(penId, into) {
  if (lastChart && lastChart.pen === penId) {
    into.replaceChildren(...lastChart.nodes.map((node) => node.cloneNode(true)));
  }
  const answer = await fetch(`/admin/api/pens/${penId}/votes`, { credentials: "same-origin", cache: "no-store" });
  if (!answer.ok) return;
  const votes = await answer.json();
  const hours = new Array(24).fill(0);
  const today = new Date().toDateString();
  for (const at of votes.voted_at) {
    const when = new Date(at);
    if (when.toDateString() === today) hours[when.getHours()] += 1;
  }
  const used = hours.map((n, hour) => [hour, n]).filter(([, n]) => n > 0).map(([hour]) => hour);
  const first = used.length ? Math.min(...used, 7) : 7;
  const last = Math.max(new Date().getHours(), ...used, first);
  const shown = hours.slice(first, last + 1);
  const top = Math.max(1, ...shown);
  const width = 28 * shown.length, height = 120;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height + 20));
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `${t("turnout_day")}: ${votes.voted_at.length} / ${votes.voters}`);
  shown.forEach((n, i) => {
    const bar = document.createElementNS(ns, "rect");
    const h = Math.round((height * n) / top);
    bar.setAttribute("x", String(i * 28 + 4));
    bar.setAttribute("y", String(height - h));
    bar.setAttribute("width", "20");
    bar.setAttribute("height", String(h));
    bar.setAttribute("class", "bar");
    const tip = document.createElementNS(ns, "title");
    tip.textContent = `${first + i}:00 — ${n}`;
    bar.appendChild(tip);
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", String(i * 28 + 14));
    label.setAttribute("y", String(height + 15));
    label.setAttribute("text-anchor", "middle");
    label.textContent = String(first + i);
    svg.append(bar, label);
  });
  const heading = document.createElement("h3");
  heading.textContent = `${t("turnout_day")}: ${votes.voted_at.length} / ${votes.voters}`;
  into.replaceChildren(heading, svg);
  lastChart = { pen: penId, nodes: [heading, svg] };
}

function text(value) {
  return value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value);
}

// One conflict or duplicate mark: both versions, field by field.
function incidentBlock(incident, now) {
  const block = document.createElement("div");
  block.className = `incident ${incident.action}`;
  block.dataset.entity = incident.entity_id;
  const title = document.createElement("p");
  // the record's name in its own direction (an Arabic name inside an
  // English line, or the reverse)
  const what = document.createElement("bdi");
  what.textContent = incident.what;
  const who = document.createElement("bdi");
  who.textContent = incident.operator || "";
  title.append(`${t(incident.action)} · ${incident.entity_type} `, what, ` · ${ago(incident.at, now)}`);
  if (incident.operator) title.append(` · ${t("by")} `, who);
  const table = document.createElement("table");
  table.className = "versions";
  table.createTHead();
  table.createTBody();
  header(table, [["field"], ["kept"], ["dropped"]], false);
  const fields = [...new Set([...Object.keys(incident.kept || {}), ...Object.keys(incident.dropped || {})])];
  table.tBodies[0].replaceChildren(...fields.map((field) => {
    const tr = document.createElement("tr");
    const kept = text((incident.kept || {})[field]);
    const dropped = text((incident.dropped || {})[field]);
    if (kept !== dropped) tr.className = "differs";
    tr.append(cell(field), cell(kept), cell(dropped));
    return tr;
  }));
  block.append(title, table);
  return block;
}

function render() {
  if (!overview) return;
  const now = Date.parse(overview.generated_at);
  const select = document.getElementById("town");
  const towns = [...new Set(overview.pens.map((p) => p.town_name))].sort();
  const chosen = select.value;
  const options = [new Option(t("all_towns"), "")].concat(towns.map((town) => new Option(town, town)));
  select.replaceChildren(...options);
  select.value = towns.includes(chosen) ? chosen : "";
  const pens = overview.pens.filter((p) => !select.value || p.town_name === select.value);
  const [, value] = COLUMNS.find(([key]) => key === sort.key) || COLUMNS[2];
  pens.sort((a, b) => {
    const x = value(a), y = value(b);
    const order = typeof x === "string" ? x.localeCompare(y) : x - y;
    return sort.up ? order : -order;
  });
  const pages = Math.max(1, Math.ceil(pens.length / PAGE_ROWS));
  page = Math.min(page, pages - 1);
  const first = page * PAGE_ROWS;
  const shown = pens.slice(first, first + PAGE_ROWS);
  document.getElementById("rows").textContent =
    `${pens.length ? first + 1 : 0}–${first + shown.length} ${t("of")} ${pens.length}`;
  const previous = document.getElementById("previous");
  const next = document.getElementById("next");
  previous.textContent = t("previous");
  next.textContent = t("next");
  previous.disabled = page === 0;
  next.disabled = page >= pages - 1;
  const table = document.getElementById("pens");
  header(table, COLUMNS, true);
  table.tBodies[0].replaceChildren(...shown.map((pen) => {
    const tr = document.createElement("tr");
    tr.className = `pen ${pen.health}`;
    tr.dataset.pen = pen.id;
    const percent = pen.voters ? Math.round((100 * pen.voted) / pen.voters) : 0;
    tr.append(
      cell(pen.town_name), cell(pen.label), cell(t(pen.health), "health"),
      cell(String(pen.stations.length), "num"),
      cell(pen.stations.length ? ago(new Date(lastSync(pen)).toISOString(), now) : t("never")),
      cell(String(pen.unsent), "num"),
      cell(pen.oldest_unsent_at ? ago(pen.oldest_unsent_at, now) : "–"),
      cell(String(pen.parked), "num"),
      cell(String(pen.conflicts_today), "num"),
      cell(String(pen.duplicates_today), "num"),
      cell(`${pen.voted} / ${pen.voters} (${percent}%)`, "num"),
    );
    tr.addEventListener("click", () => { openPen = pen.id; render(); });
    return tr;
  }));
  const count = (health) => overview.pens.filter((p) => p.health === health).length;
  const sum = (field) => overview.pens.reduce((total, p) => total + p[field], 0);
  const summary = document.getElementById("summary");
  summary.replaceChildren(...[
    [overview.pens.length, t("pens")], [count("red"), t("red_pens")], [count("amber"), t("amber_pens")],
    [sum("unsent"), t("unsent_total")], [sum("parked"), t("parked_total")],
    [`${sum("voted")} / ${sum("voters")}`, t("voted")],
  ].map(([n, label]) => {
    const span = document.createElement("span");
    span.textContent = `${n} ${label}`;
    return span;
  }));
  document.getElementById("centre-title").textContent = t("centre");
  const centre = document.getElementById("centre");
  header(centre, STATION_COLUMNS, false);
  centre.tBodies[0].replaceChildren(...stationRows(overview.centre, now));
  renderDetail(now);
}

async function poll() {
  const updated = document.getElementById("updated");
  try {
    const since = version ? `?since=${encodeURIComponent(version)}` : "";
    const answer = await fetch(`/admin/api/overview${since}`, { credentials: "same-origin", cache: "no-store" });
    if (answer.status === 401) { window.location.reload(); return; }
    if (!answer.ok) throw new Error(String(answer.status));
    const delta = await answer.json();
    if (delta.full) known.clear();
    for (const pen of delta.pens) known.set(pen.id, pen);
    for (const id of delta.removed) known.delete(id);
    version = delta.version;
    overview = { generated_at: delta.generated_at, pens: [...known.values()], centre: delta.centre };
    updated.textContent = `${t("updated")} ${new Date(overview.generated_at).toLocaleTimeString(lang)}`;
    updated.className = "";
    render();
  } catch (error) {
    updated.textContent = t("failed");
    updated.className = "problem";
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

document.getElementById("town").addEventListener("change", () => { page = 0; render(); });
document.getElementById("previous").addEventListener("click", () => { page -= 1; render(); });
document.getElementById("next").addEventListener("click", () => { page += 1; render(); });
poll();
