// The counter page: choose, enter, tap the card, enter the PIN, see the result. No framework: a
// handful of screens, one shown at a time, and the agent's JSON API on this same origin.
"use strict";

const TEXT = {
  ja: {
    choose: "ご用件を選んでください", pay: "お支払い", admission: "入館料", balance: "残高照会",
    lookup: "会員番号の照会", refund: "払い戻し", how_many: "お支払いのポイント数", points: "ポイント",
    back: "もどる", next: "次へ", cancel: "やめる", ok: "決定", done: "最初の画面へ",
    which_ticket: "券の種類を選んでください", which_refund: "払い戻す取引を選んでください",
    place_card: "マイナンバーカードをカードリーダーに置いてください",
    enter_pin: "暗証番号（数字4けた）を入力してください", working: "処理しています…",
    keep_card: "カードはそのまま置いておいてください", offline_txn: "オフライン取引",
    reprint: "レシート再印刷", paid: "お支払いが完了しました", refunded: "払い戻しが完了しました",
    balance_is: "ポイント残高", lookup_is: "会員番号", failed: "お取り扱いできませんでした",
    online: "オンライン", offline_status: "オフライン（ネットワーク未接続）", queued: "未送信",
    receipt_printed: "レシートを印刷しました", receipt_failed: "レシートを印刷できませんでした",
    expires_next: "有効期限", retry_pin: "暗証番号をもう一度", clear: "消去", del: "1字消す",
    total: "合計", language: "English",
  },
  en: {
    choose: "What would you like to do?", pay: "Pay with points", admission: "Admission", balance: "Balance",
    lookup: "Member number", refund: "Refund", how_many: "How many points?", points: "points",
    back: "Back", next: "Next", cancel: "Cancel", ok: "OK", done: "Start over",
    which_ticket: "Choose a ticket", which_refund: "Choose the payment to refund",
    place_card: "Place your My Number card on the card reader",
    enter_pin: "Enter your PIN (4 digits)", working: "Working…",
    keep_card: "Please leave the card where it is", offline_txn: "Offline transaction",
    reprint: "Reprint receipt", paid: "Payment complete", refunded: "Refund complete",
    balance_is: "Points balance", lookup_is: "Member number", failed: "This could not be done",
    online: "Online", offline_status: "Offline (no network)", queued: "to send",
    receipt_printed: "Receipt printed", receipt_failed: "The receipt could not be printed",
    expires_next: "Expires", retry_pin: "Try the PIN again", clear: "Clear", del: "Delete",
    total: "Total", language: "日本語",
  },
};

const state = { lang: "ja", info: null, action: null, request: {}, amount: "", pin: "", last: null, idle: null };

function t(key) { return (TEXT[state.lang] || TEXT.ja)[key] || key; }
function $(id) { return document.getElementById(id); }

function show(name) {
  document.querySelectorAll(".screen").forEach((s) => s.classList.toggle("shown", s.id === `screen-${name}`));
  state.screen = name;
  armIdle();
}

function render() {
  document.documentElement.lang = state.lang;
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
  $("language").textContent = t("language");
  const info = state.info;
  if (!info) return;
  $("place").textContent = info.place.name;
  const status = $("status");
  status.classList.toggle("offline", !info.online);
  status.textContent = (info.online ? t("online") : t("offline_status")) +
    (info.queue.pending ? ` · ${t("queued")} ${info.queue.pending}` : "");
  const has = { admission: info.price_list.length > 0, lookup: Boolean(info.service), refund: info.refundable.length > 0 };
  document.querySelectorAll(".action").forEach((b) => {
    b.style.display = has[b.dataset.action] === false ? "none" : "";
  });
  $("amount").textContent = state.amount || "0";
  $("pin").textContent = "●".repeat(state.pin.length);
  $("amount-ok").disabled = !(Number(state.amount) > 0);
  $("pin-ok").disabled = state.pin.length !== 4;
  if (state.last) renderResult(state.last);
}

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  return response.json();
}

async function refresh() {
  try { state.info = await api("/api/state"); } catch (e) { return; }
  if (!state.langChosen) state.lang = state.info.language || "ja";
  render();
  if (state.screen === "card" && state.info.card.present) show("pin");
}

function keypad(el) {
  const keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "del"];
  for (const k of keys) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.key = k;
    b.dataset.testid = `key-${el.dataset.target}-${k}`;
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
}

function choose(action) {
  state.action = action;
  state.request = {};
  state.amount = "";
  state.pin = "";
  state.last = null;
  if (action === "spend") show("amount");
  else if (action === "admission") showItems();
  else if (action === "refund") showRefunds();
  else toCard();
}

function showItems() {
  const box = $("items");
  box.replaceChildren();
  for (const item of state.info.price_list) {
    const b = document.createElement("button");
    b.setAttribute("data-testid", `item-${item.code}`);
    b.innerHTML = `<span></span><span></span>`;
    b.children[0].textContent = item.name;
    b.children[1].textContent = `${item.price.toLocaleString()} ${t("points")}`;
    b.addEventListener("click", () => { state.request = { item: item.code, quantity: 1 }; toCard(); });
    box.appendChild(b);
  }
  show("items");
}

function showRefunds() {
  const box = $("refunds");
  box.replaceChildren();
  for (const spend of state.info.refundable) {
    const b = document.createElement("button");
    b.setAttribute("data-testid", `refund-${spend.transfer_id}`);
    b.innerHTML = `<span></span><span></span>`;
    b.children[0].textContent = `${spend.time} ${spend.what || ""}`;
    b.children[1].textContent = `${spend.amount.toLocaleString()} ${t("points")}`;
    b.addEventListener("click", () => { state.request = { transfer_id: spend.transfer_id }; toCard(); });
    box.appendChild(b);
  }
  show("refunds");
}

function toCard() {
  $("card-what").textContent = describe();
  state.pin = "";
  render();
  show(state.info && state.info.card.present ? "pin" : "card");
}

function describe() {
  if (state.action === "spend") return `${Number(state.amount).toLocaleString()} ${t("points")}`;
  if (state.request.item) {
    const item = state.info.price_list.find((i) => i.code === state.request.item);
    return item ? `${item.name} ${item.price.toLocaleString()} ${t("points")}` : "";
  }
  return t(state.action === "admission" ? "admission" : state.action);
}

async function submit() {
  show("working");
  const body = { ...state.request, pin: state.pin };
  if (state.action === "spend") body.amount = Number(state.amount);
  const action = state.action === "admission" ? "spend" : state.action;
  state.pin = "";
  let result;
  try {
    result = await api(`/api/actions/${action}`, body);
  } catch (e) {
    result = { ok: false, error: { code: "agent_unreachable", message: { ja: "端末に接続できません。", en: "The terminal does not answer." } } };
  }
  state.last = result;
  renderResult(result);
  show("result");
  refresh();
}

function renderResult(r) {
  const screen = $("screen-result");
  screen.classList.toggle("good", r.ok);
  screen.classList.toggle("bad", !r.ok);
  $("result-offline").style.display = r.offline ? "" : "none";
  $("reprint").style.display = r.receipt ? "" : "none";
  $("result-receipt").textContent = r.receipt ? (r.receipt.printed ? t("receipt_printed") : `${t("receipt_failed")}: ${msg(r.receipt.error)}`) : "";
  if (!r.ok) {
    $("result-title").textContent = t("failed");
    $("result-main").textContent = msg(r.error.message);
    $("result-detail").textContent = "";
    return;
  }
  const kinds = {
    spend: [t("paid"), `${r.amount.toLocaleString()} ${t("points")}`],
    refund: [t("refunded"), `${r.amount.toLocaleString()} ${t("points")}`],
    balance: [t("balance_is"), `${(r.total || 0).toLocaleString()} ${t("points")}`],
    lookup: [t("lookup_is"), `${r.service}: ${r.service_id}`],
  };
  const [title, main] = kinds[r.kind] || [t("done"), ""];
  $("result-title").textContent = title;
  $("result-main").textContent = main;
  $("result-detail").textContent = detail(r);
}

function detail(r) {
  if (r.kind === "balance") {
    return (r.balances || []).map((b) => `${b.name}: ${b.balance.toLocaleString()}` +
      (b.expires_next ? ` (${t("expires_next")} ${b.expires_next.date} ${b.expires_next.amount.toLocaleString()})` : "")).join(" / ");
  }
  if (r.kind === "spend" && r.balance_after !== undefined && r.balance_after !== null) {
    return `${t("balance_is")} ${r.balance_after.toLocaleString()} ${t("points")}`;
  }
  return "";
}

function msg(m) { return m ? (m[state.lang] || m.ja || "") : ""; }

function armIdle() {
  clearTimeout(state.idle);
  const seconds = (state.info && state.info.idle_timeout_s) || 60;
  if (state.screen !== "home" && state.screen !== "working") {
    state.idle = setTimeout(() => { state.last = null; show("home"); }, seconds * 1000);
  }
}

function wire() {
  document.querySelectorAll(".keypad").forEach(keypad);
  document.querySelectorAll(".action").forEach((b) => b.addEventListener("click", () => choose(b.dataset.action)));
  document.querySelectorAll("button.back").forEach((b) => b.addEventListener("click", () => { state.last = null; show("home"); }));
  $("amount-ok").addEventListener("click", toCard);
  $("pin-ok").addEventListener("click", submit);
  $("result-ok").addEventListener("click", () => { state.last = null; show("home"); });
  $("reprint").addEventListener("click", async () => {
    if (!state.last || !state.last.receipt) return;
    const r = await api("/api/actions/reprint", { receipt_id: state.last.receipt.id });
    state.last.receipt = r.receipt || state.last.receipt;
    renderResult(state.last);
  });
  $("language").addEventListener("click", () => {
    state.lang = state.lang === "ja" ? "en" : "ja";
    state.langChosen = true;
    render();
  });
  document.addEventListener("pointerdown", armIdle);
}

wire();
show("home");
refresh();
setInterval(refresh, 1000);
