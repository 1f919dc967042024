// The counter page: choose, enter, tap the card, enter the PIN, see the result. No framework: a
// handful of screens, one shown at a time, and the agent's JSON API on this same origin.
// No screen waits for ever: every screen but "working" goes home after the idle time, and the
// agent's answer is awaited at most the action time, after which the page says so and offers
// the way back. A result the page cannot draw is shown as a failure, never as a stuck screen.
"use strict";

// The page's words are the agent's (agent/counter/words.py, from the one message catalogue):
// /api/words gives every word in every language, read once before the first screen is drawn.
// Until it is read (an agent restarting as the page loads) no screen is drawn, only the place's
// name, and the page asks again every second; a key the words lack shows as itself, for the tests
// to find.

// What each button asks for before the card: a screen of its own, or fields on the form screen.
// ``online``: only the server can do it (greyed out while offline). ``card``: the card and its PIN.
const ACTIONS = {
  spend: { api: "spend", first: "amount", card: true },
  admission: { api: "spend", first: "items", card: true },
  balance: { api: "balance", online: true, card: true },
  lookup: { api: "lookup", online: true, card: true },
  refund: { api: "refund", first: "refunds", online: true, card: true },
  voucher: { api: "voucher", card: false },
  register: { api: "register", online: true, card: true },
  link_service: { api: "link_service", first: "form", fields: ["local_id"], online: true, card: true },
  link_partner: { api: "link_partner", first: "form", fields: ["partner", "member"], online: true, card: true },
  coupon: { api: "coupon", first: "form", fields: ["code"], online: true, card: true },
  mypage_code: { api: "mypage_code", online: true, card: true },
};

const state = {
  lang: "ja", langChosen: false, words: null, info: null, agentAway: false, action: null, request: {},
  amount: "", pin: "", last: null, idle: null, screen: "home",
};

function t(key) {
  if (!state.words) return "";
  return (state.words[state.lang] || state.words.ja)[key] ?? key;
}
// A placeholder is the catalogue's %(name)s.
function fill(key, values) { return t(key).replace(/%\((\w+)\)s/g, (all, name) => values[name] ?? all); }
// One word in every language, as the agent's own messages come: {ja: ..., en: ...}.
function everyLanguage(key) {
  return Object.fromEntries(Object.entries(state.words || {}).map(([lang, words]) => [lang, words[key] ?? key]));
}
function $(id) { return document.getElementById(id); }
function points(n) { return `${Number(n || 0).toLocaleString()} ${t("points")}`; }
function msg(m) { return m ? (m[state.lang] || m.ja || "") : ""; }

function show(name) {
  document.querySelectorAll(".screen").forEach((s) => s.classList.toggle("shown", s.id === `screen-${name}`));
  state.screen = name;
  window.scrollTo(0, 0);
  const first = document.querySelector(`#screen-${name} input`) || document.querySelector(`#screen-${name} h1`);
  if (first) first.focus({ preventScroll: true });
  armIdle();
}

function goHome() {
  state.last = null;
  $("result-main").textContent = "";  // a code shown there leaves the page with its resident
  state.pin = "";
  state.amount = "";
  show("home");
}

// --- drawing -------------------------------------------------------------------------------

function available(name) {
  const info = state.info;
  if (!info) return true;
  if (name === "admission") return info.price_list.length > 0;
  if (name === "lookup" || name === "link_service") return Boolean(info.service);
  if (name === "refund") return info.refundable.length > 0;
  if (name === "voucher") return Boolean(info.scanner);
  return true;
}

function render() {
  document.documentElement.lang = state.lang;
  if (state.words) document.title = t("title");
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
  $("language").textContent = t("language");
  $("language").lang = state.lang === "ja" ? "en" : "ja";
  $("language").hidden = !state.words;
  document.querySelectorAll(".keypad button[data-key=clear]").forEach((b) => b.setAttribute("aria-label", t("clear")));
  document.querySelectorAll(".keypad button[data-key=del]").forEach((b) => b.setAttribute("aria-label", t("del")));
  renderStatus();
  $("amount").textContent = state.amount || "0";
  $("pin").textContent = "●".repeat(state.pin.length);
  $("pin-count").textContent = `${state.pin.length} ${t("digits_entered")}`;
  $("amount-ok").disabled = !(Number(state.amount) > 0);
  $("pin-ok").disabled = state.pin.length !== 4;
  if (state.screen === "form") renderFormTexts();
  if (state.last && state.screen === "result") renderResult(state.last);
}

function renderStatus() {
  const info = state.info;
  const status = $("status");
  if (state.agentAway || !info) {
    status.classList.add("offline");
    status.textContent = state.agentAway ? t("agent_away") : "";
    return;
  }
  $("place").textContent = info.place.name || "";
  status.classList.toggle("offline", !info.online);
  status.textContent = (info.online ? t("online") : t("offline_status")) +
    (info.queue.pending ? ` · ${t("queued")} ${info.queue.pending}` : "");
  document.querySelectorAll(".action").forEach((b) => {
    const action = ACTIONS[b.dataset.action];
    b.hidden = !available(b.dataset.action);
    b.disabled = Boolean(action.online) && !info.online;
  });
  $("offline-note").hidden = info.online;
}

// --- talking to the agent ------------------------------------------------------------------

async function api(path, body, seconds) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), (seconds || 10) * 1000);
  const options = { signal: controller.signal };
  if (body !== undefined) {
    Object.assign(options, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  }
  try {
    const response = await fetch(path, options);
    return await response.json();
  } finally {
    clearTimeout(timer);
  }
}

async function refresh() {
  if (!state.words) await readWords().catch(() => {});  // asked again at the next refresh
  try {
    state.info = await api("/api/state", undefined, 5);
    state.agentAway = false;
  } catch (e) {
    state.agentAway = true;
    renderStatus();
    return;
  }
  if (!state.langChosen) state.lang = state.info.language || "ja";
  render();
  if (state.screen === "card" && state.info.card.present) show("pin");
}

// The words first, then the first screen: a screen is never drawn without them.
async function readWords() {
  const words = await api("/api/words", undefined, 5);
  if (!words || !words.ja) throw new Error("the agent sent no words");
  if (state.words) return;  // another refresh read them first
  state.words = words;
  render();
  show("home");
}

// --- entering digits -------------------------------------------------------------------------

function keypad(el) {
  const keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "del"];
  for (const k of keys) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.key = k;
    b.setAttribute("data-testid", `key-${el.dataset.target}-${k}`);
    b.textContent = k === "clear" ? "C" : k === "del" ? "←" : k;
    b.addEventListener("click", () => press(el.dataset.target, k));
    el.appendChild(b);
  }
}

function press(target, key) {
  const limit = target === "pin" ? 4 : 7;
  let value = state[target];
  if (key === "clear") value = "";
  else if (key === "del") value = value.slice(0, -1);
  else if (value.length < limit) value = (value === "0" ? "" : value) + key;
  state[target] = value;
  render();
  armIdle();
}

// A keyboard works as the keypad does: digits, Backspace, Enter for the screen's OK, Escape back.
function onKey(event) {
  if (event.altKey || event.ctrlKey || event.metaKey) return;
  const inField = event.target instanceof HTMLInputElement;
  armIdle();
  if (event.key === "Escape" && !["home", "working"].includes(state.screen)) {
    event.preventDefault();
    goHome();
    return;
  }
  const target = { amount: "amount", pin: "pin" }[state.screen];
  if (!target || inField) return;
  if (/^[0-9]$/.test(event.key)) press(target, event.key);
  else if (event.key === "Backspace") press(target, "del");
  else if (event.key === "Delete") press(target, "clear");
  else if (event.key === "Enter" && !(event.target instanceof HTMLButtonElement)) {
    const ok = $(`${target}-ok`);
    if (!ok.disabled) ok.click();
  } else return;
  event.preventDefault();
}

// --- the steps of an action ------------------------------------------------------------------

function choose(name) {
  const action = ACTIONS[name];
  state.action = name;
  state.request = {};
  state.amount = "";
  state.pin = "";
  state.last = null;
  render();
  if (action.first === "amount") show("amount");
  else if (action.first === "items") showItems();
  else if (action.first === "refunds") showRefunds();
  else if (action.first === "form") showForm(action.fields);
  else if (action.card) toCard();
  else submit();
}

function listButton(testid, left, right, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.setAttribute("data-testid", testid);
  for (const text of [left, right]) {
    const span = document.createElement("span");
    span.textContent = text;
    b.appendChild(span);
  }
  b.addEventListener("click", onClick);
  return b;
}

function fillItems() {
  $("items").replaceChildren(...state.info.price_list.map((item) => listButton(
    `item-${item.code}`, item.name, points(item.price),
    () => { state.request = { item: item.code, quantity: 1 }; toCard(); })));
}

function fillRefunds() {
  $("refunds").replaceChildren(...state.info.refundable.map((spend) => listButton(
    `refund-${spend.transfer_id}`, `${spend.time} ${spend.what || ""}`, points(spend.amount),
    () => { state.request = { transfer_id: spend.transfer_id }; toCard(); })));
}

function showItems() { fillItems(); show("items"); }
function showRefunds() { fillRefunds(); show("refunds"); }

function showForm(fields) {
  const form = $("form");
  form.replaceChildren(...fields.map((name) => {
    const label = document.createElement("label");
    label.htmlFor = `field-${name}`;
    label.dataset.field = name;
    const input = document.createElement("input");
    Object.assign(input, { id: `field-${name}`, name, type: "text", autocomplete: "off", spellcheck: false, maxLength: 40 });
    input.setAttribute("data-testid", `field-${name}`);
    input.setAttribute("autocapitalize", name === "code" ? "characters" : "off");
    input.addEventListener("input", checkForm);
    const box = document.createElement("div");
    box.className = "field";
    box.append(label, input);
    return box;
  }));
  renderFormTexts();
  checkForm();
  show("form");
}

function renderFormTexts() {
  $("form-title").textContent = t(`${state.action}_title`);
  document.querySelectorAll("#form label").forEach((l) => { l.textContent = t(l.dataset.field); });
}

function checkForm() {
  $("form-ok").disabled = [...$("form").querySelectorAll("input")].some((input) => !input.value.trim());
}

function formDone(event) {
  event.preventDefault();
  checkForm();
  if ($("form-ok").disabled) return;
  for (const input of $("form").querySelectorAll("input")) state.request[input.name] = input.value.trim();
  toCard();
}

function toCard() {
  const what = describe();
  $("card-what").textContent = what;
  $("pin-what").textContent = what;
  state.pin = "";
  render();
  show(state.info && state.info.card.present ? "pin" : "card");
}

function describe() {
  if (state.action === "spend") return points(state.amount);
  if (state.request.item) {
    const item = state.info.price_list.find((i) => i.code === state.request.item);
    return item ? `${item.name} ${points(item.price)}` : "";
  }
  return t(state.action === "spend" ? "pay" : state.action);
}

async function submit() {
  const action = ACTIONS[state.action];
  $("working-what").textContent = action.card ? t("keep_card") : t("show_voucher");
  show("working");
  const body = { ...state.request, pin: state.pin };
  if (state.action === "spend") body.amount = Number(state.amount);
  state.pin = "";
  const seconds = (state.info && state.info.action_timeout_s) || 60;
  let result;
  try {
    result = await api(`/api/actions/${action.api}`, body, seconds);
  } catch (e) {
    result = e.name === "AbortError" ? { ok: false, timed_out: true } : { ok: false, unreachable: true };
  }
  state.last = result;
  show("result");
  renderResult(result);
  $("result-ok").focus();
  refresh();
}

// --- the result --------------------------------------------------------------------------------

// Each kind draws its own lines from its own fields: one kind's missing field is no other's fault.
const RESULTS = {
  spend: (r) => [t("paid"), points(r.amount), r.balance_after == null ? "" : `${t("balance_left")} ${points(r.balance_after)}`],
  refund: (r) => [t("refunded"), points(r.amount), ""],
  balance: (r) => [t("balance_is"), points(r.total), balanceLines(r.balances)],
  lookup: (r) => [t("lookup_is"), `${r.service}: ${r.service_id}`, ""],
  register: (r) => [t("mykey_is"), r.mykey_id, r.created ? t("mykey_new") : t("mykey_had")],
  link_service: (r) => [r.status === "pending" ? t("link_pending") : t("linked"), `${r.service}: ${r.local_id}`, ""],
  link_partner: (r) => [t("partner_linked"), `${t("link_code")} ${r.link_code || ""}`, t("link_code_help")],
  coupon: (r) => [t("coupon_taken"), points((r.points || 0) + (r.premium || 0)), arrival(r.due_at)],
  voucher: (r) => [t("voucher_taken"), points(r.amount), fill("serial", { serial: r.serial })],
  mypage_code: signUpCode,
};

// The code is on the screen only when its receipt did not print (the agent sends it only then).
function signUpCode(r) {
  const until = new Date(r.expires_at).toLocaleString(state.lang === "ja" ? "ja-JP" : "en-GB",
    { timeZone: "Asia/Tokyo", month: "long", day: "numeric", hour: "2-digit", minute: "2-digit" });
  const valid = fill("valid_until", { until, hours: r.valid_hours });
  const where = fill("code_where", { url: r.signup_url });
  return r.code ? [t("code_shown"), r.code, fill("valid_then_where", { valid, where })] : [t("code_printed"), valid, where];
}

function balanceLines(balances) {
  return (balances || []).map((b) => {
    const next = b.next_expiry ? ` (${t("expires_next")} ${b.next_expiry.last_day}: ${points(b.next_expiry.amount)})` : "";
    return `${b.name}: ${points(b.spendable)}${next}`;
  }).join(" / ");
}

function arrival(due) {
  if (!due) return "";
  const day = new Date(due).toLocaleDateString(state.lang === "ja" ? "ja-JP" : "en-GB", { timeZone: "Asia/Tokyo" });
  return fill("arrives_on", { day });
}

function failure(r) {
  if (r.timed_out) return [t("no_answer"), t("no_answer_detail")];
  if (r.unreachable) return [t("failed"), t("agent_unreachable")];
  return [t("failed"), msg(r.error && r.error.message) || t("page_fault")];
}

function renderResult(r) {
  let lines;
  try {
    lines = r.ok ? RESULTS[r.kind](r) : [...failure(r), ""];
  } catch (e) {
    lines = [t("failed"), t("page_fault"), ""];
  }
  const [title, main, detail] = lines;
  const screen = $("screen-result");
  screen.classList.toggle("good", Boolean(r.ok));
  screen.classList.toggle("bad", !r.ok);
  $("result-title").textContent = title;
  $("result-main").textContent = main || "";
  $("result-detail").textContent = detail || "";
  $("result-offline").hidden = !r.offline;
  $("reprint").hidden = !(r.receipt && r.receipt.id != null);  // only a kept receipt is printed again
  $("retry-pin").hidden = !(r.error && r.error.code === "wrong_pin");
  $("result-receipt").textContent = r.receipt
    ? (r.receipt.printed ? t("receipt_printed") : `${t("receipt_failed")}: ${msg(r.receipt.message)}`) : "";
}

// --- timeouts --------------------------------------------------------------------------------

function armIdle() {
  clearTimeout(state.idle);
  const seconds = (state.info && state.info.idle_timeout_s) || 60;
  if (state.screen !== "home" && state.screen !== "working") state.idle = setTimeout(goHome, seconds * 1000);
}

// --- wiring ----------------------------------------------------------------------------------

function wire() {
  document.querySelectorAll(".keypad").forEach(keypad);
  document.querySelectorAll(".action").forEach((b) => b.addEventListener("click", () => choose(b.dataset.action)));
  document.querySelectorAll("button.back").forEach((b) => b.addEventListener("click", goHome));
  $("amount-ok").addEventListener("click", toCard);
  $("pin-ok").addEventListener("click", submit);
  $("form").addEventListener("submit", formDone);
  $("result-ok").addEventListener("click", goHome);
  $("retry-pin").addEventListener("click", () => { state.last = null; toCard(); });
  $("reprint").addEventListener("click", async () => {
    if (!state.last || !state.last.receipt || state.last.receipt.id == null) return;
    try {
      const r = await api("/api/actions/reprint", { receipt_id: state.last.receipt.id });
      state.last.receipt = { ...(r.receipt || state.last.receipt), message: r.error && r.error.message };
    } catch (e) {
      state.last.receipt = { ...state.last.receipt, printed: false, message: everyLanguage("agent_unreachable") };
    }
    renderResult(state.last);
  });
  $("language").addEventListener("click", () => {
    state.lang = state.lang === "ja" ? "en" : "ja";
    state.langChosen = true;
    render();
    if (state.screen === "items") fillItems();
    if (state.screen === "refunds") fillRefunds();
    if (["card", "pin"].includes(state.screen)) $("card-what").textContent = $("pin-what").textContent = describe();
  });
  document.addEventListener("keydown", onKey);
  document.addEventListener("pointerdown", armIdle);
}

wire();
render();
refresh();
setInterval(refresh, 1000);
