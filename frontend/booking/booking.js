// The candidate's booking page: pick a time for the interview, see it, add it to the calendar, change or cancel it.
// Times are shown in the phone's own time zone, named, and in the company's where that differs.

const TEXT = {
  en: {
    title: "Book your interview time",
    job: "Video interview for {job}",
    loading: "Loading…",
    load_failed: "The page could not be loaded. Check the connection and reload.",
    link_invalid: "This link is not valid or has expired. Ask the company that invited you for a new one.",
    pick: "Choose a time",
    zone_note: "Times are shown in your time zone ({zone}). The company plans in {company_zone}.",
    zone_same: "Times are shown in your time zone ({zone}).",
    minutes: "Each interview takes about {minutes} minutes.",
    book: "Book this time",
    keep: "Keep my current time",
    choose_first: "Choose a time first.",
    none_free: "No time is free at the moment. Please check again later or contact the company.",
    booking: "Booking…",
    booked_title: "Your interview time",
    booked_ok: "Booked. A calendar invitation is on its way if the company has your e-mail address.",
    changed_ok: "Changed. Your calendar gets the new time.",
    cancelled_ok: "Your booking is cancelled. You can book another time below.",
    taken: "Someone has just taken the last place at that time. The list shows the times still free.",
    not_offered: "That time is no longer offered. Please choose another.",
    too_late: "It is too late to change this booking. Contact the company if you cannot come.",
    no_changes: "This booking cannot be changed again. Contact the company if you cannot come.",
    failed: "That did not work. Please try again.",
    start: "Start the interview",
    opens: "You can open the interview from {time}, a quarter of an hour before it starts.",
    open_now: "The interview is open: you can start now.",
    calendar: "Add to my calendar",
    wechat_remind: "Remind me in WeChat",
    change: "Change time",
    cancel: "Cancel booking",
    confirm_cancel: "Cancel your interview at {time}?",
    policy: "You can change or cancel until {hours} hours before the interview ({left} change(s) left).",
    policy_none: "You can cancel until {hours} hours before the interview.",
    closed_title: "No time to book",
    closed_text: "This interview is not open for booking any more. Contact the company that invited you.",
    no_show_title: "The interview time has passed",
    no_show_text: "Your booked time passed without you joining. If you would still like the interview, contact the company that invited you.",
    missed_note: "Your booked time passed without you joining. The company invites you once more: choose a new time below.",
    deadline: "Book a time before {time}.",
    switch: "中文",
    in_zone: "{time} ({zone})",
  },
  zh: {
    title: "预约面试时间",
    job: "{job} · 视频面试",
    loading: "加载中…",
    load_failed: "页面没能加载。请检查网络后刷新。",
    link_invalid: "此链接无效或已过期。请联系邀请您的公司获取新链接。",
    pick: "选择一个时间",
    zone_note: "以下时间按您所在的时区（{zone}）显示；公司按 {company_zone} 安排。",
    zone_same: "以下时间按您所在的时区（{zone}）显示。",
    minutes: "每场面试约 {minutes} 分钟。",
    book: "预约这个时间",
    keep: "保留原来的时间",
    choose_first: "请先选择一个时间。",
    none_free: "目前没有空闲的时间。请稍后再看，或联系公司。",
    booking: "正在预约…",
    booked_title: "您的面试时间",
    booked_ok: "预约成功。如果公司有您的邮箱，日历邀请会发到邮箱。",
    changed_ok: "已改期，您的日历会收到新时间。",
    cancelled_ok: "预约已取消。您可以在下面重新选择时间。",
    taken: "刚才有人约满了这个时间。列表已更新为仍可预约的时间。",
    not_offered: "这个时间已不再开放，请另选一个。",
    too_late: "已经过了可以改期的时间。如不能参加，请联系公司。",
    no_changes: "这个预约不能再改期了。如不能参加，请联系公司。",
    failed: "操作没有成功，请再试一次。",
    start: "开始面试",
    opens: "面试开始前 15 分钟（{time}）起可以进入。",
    open_now: "面试已开放，现在就可以开始。",
    calendar: "加入我的日历",
    wechat_remind: "在微信里提醒我",
    change: "改期",
    cancel: "取消预约",
    confirm_cancel: "确定取消 {time} 的面试吗？",
    policy: "面试开始前 {hours} 小时以前可以改期或取消（还可改期 {left} 次）。",
    policy_none: "面试开始前 {hours} 小时以前可以取消。",
    closed_title: "无法预约",
    closed_text: "这场面试已不能预约。请联系邀请您的公司。",
    no_show_title: "面试时间已过",
    no_show_text: "您预约的面试时间已过，您没有进入面试。如果仍想参加，请联系邀请您的公司。",
    missed_note: "您预约的面试时间已过，您没有进入面试。公司再给您一次机会：请在下面选择新的时间。",
    deadline: "请在 {time} 之前预约。",
    switch: "English",
    in_zone: "{time}（{zone}）",
  },
};

const $ = (id) => document.getElementById(id);
const token = decodeURIComponent(location.pathname.split("/").pop());
const interviewId = document.querySelector('meta[name="interview"]').content;
const api = `/api/v1/interviews/${encodeURIComponent(interviewId)}`;
const myZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
let lang = document.documentElement.lang.startsWith("zh") ? "zh" : "en";
let view = null;
let changing = false;

function t(key, values = {}) {
  return TEXT[lang][key].replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");
}

function locale() {
  return lang === "zh" ? "zh-CN" : "en-GB";
}

function formatTime(iso, zone = myZone, withDate = true) {
  const options = { hour: "2-digit", minute: "2-digit", timeZone: zone, hour12: false };
  if (withDate) Object.assign(options, { weekday: "short", year: "numeric", month: "short", day: "numeric" });
  return new Intl.DateTimeFormat(locale(), options).format(new Date(iso));
}

function dayLabel(iso) {
  return new Intl.DateTimeFormat(locale(), { weekday: "long", month: "long", day: "numeric", timeZone: myZone }).format(new Date(iso));
}

function say(message, kind = "") {
  const status = $("status");
  status.textContent = message;
  status.className = kind;
}

async function call(method, path = "/slots", body) {
  const response = await fetch(api + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, data };
}

function renderStatic() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  $("title").textContent = t("title");
  const other = lang === "zh" ? "en" : "zh";
  $("lang-switch").textContent = TEXT[lang].switch;  // the other language, named in itself
  $("lang-switch").lang = other === "zh" ? "zh-CN" : "en";
  $("lang-switch").hidden = false;
  $("book").textContent = t("book");
  $("keep").textContent = t("keep");
  $("calendar").textContent = t("calendar");
  $("wechat-remind").textContent = t("wechat_remind");
  $("change").textContent = t("change");
  $("cancel").textContent = t("cancel");
  $("start").textContent = t("start");
  $("booked-title").textContent = t("booked_title");
  $("picker-title").textContent = t("pick");
  const missed = view && view.status === "no_show";
  $("closed-title").textContent = t(missed ? "no_show_title" : "closed_title");
  $("closed-text").textContent = t(missed ? "no_show_text" : "closed_text");
}

function renderSlots(slots) {
  const days = $("days");
  days.replaceChildren();
  const groups = new Map();
  for (const slot of slots) {
    const key = dayLabel(slot.starts_at);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(slot);
  }
  let index = 0;
  for (const [label, group] of groups) {
    const fieldset = document.createElement("fieldset");
    fieldset.className = "day";
    const legend = document.createElement("legend");
    legend.textContent = label;
    const times = document.createElement("div");
    times.className = "times";
    for (const slot of group) {
      const id = `slot-${index++}`;
      const input = Object.assign(document.createElement("input"), { type: "radio", name: "slot", id, value: slot.starts_at, disabled: !slot.available });
      const text = document.createElement("span");
      text.textContent = formatTime(slot.starts_at, myZone, false);
      const labelEl = document.createElement("label");
      labelEl.htmlFor = id;
      labelEl.append(input, text);
      times.append(labelEl);
    }
    fieldset.append(legend, times);
    days.append(fieldset);
  }
  const free = slots.some((slot) => slot.available);
  $("none-free").textContent = t("none_free");
  $("none-free").hidden = free;
  $("book").hidden = !free;
}

function render() {
  renderStatic();
  $("job").textContent = t("job", { job: view.job_title });
  const booking = view.booking && view.booking.status === "booked" ? view.booking : null;
  const bookable = view.status === "scheduled" && view.mode === "slots";
  $("closed").hidden = bookable || booking !== null;
  $("booked").hidden = booking === null;
  $("picker").hidden = !bookable || (booking !== null && !changing);
  $("keep").hidden = !(booking && changing);
  if (booking) {
    const companyZone = view.timezone && view.timezone !== myZone ? ` · ${t("in_zone", { time: formatTime(booking.starts_at, view.timezone), zone: view.timezone })}` : "";
    $("booked-when").textContent = t("in_zone", { time: formatTime(booking.starts_at), zone: myZone }) + companyZone;
    const open = Date.now() >= Date.parse(booking.join_opens_at);
    $("booked-note").textContent = open ? t("open_now") : t("opens", { time: formatTime(booking.join_opens_at) });
    $("start").hidden = !open;
    $("start").href = location.href;
    $("calendar").href = `${api}/booking.ics?token=${encodeURIComponent(token)}`;
    // WeChat's page that allows one reminder opens only inside WeChat.
    const inWeChat = /MicroMessenger/i.test(navigator.userAgent);
    $("wechat-remind").hidden = !(view.wechat_reminder_url && inWeChat);
    if (view.wechat_reminder_url) $("wechat-remind").href = view.wechat_reminder_url;
    $("change").hidden = !view.may_change || changing;
    $("cancel").hidden = !view.may_cancel;
    $("policy").textContent = view.changes_left > 0 ? t("policy", { hours: view.change_until_hours, left: view.changes_left }) : t("policy_none", { hours: view.change_until_hours });
  }
  if (bookable) {
    const note = view.timezone && view.timezone !== myZone ? t("zone_note", { zone: myZone, company_zone: view.timezone }) : t("zone_same", { zone: myZone });
    const deadline = view.deadline_at ? ` ${t("deadline", { time: formatTime(view.deadline_at) })}` : "";
    $("zone-note").textContent = `${note} ${t("minutes", { minutes: view.slot_minutes })}${deadline}`;
    $("missed-note").hidden = !(view.booking && view.booking.status === "missed");
    $("missed-note").textContent = t("missed_note");
    renderSlots(view.slots || []);
  }
}

const PROBLEMS = { slot_taken: "taken", slot_not_offered: "not_offered", too_late_to_change: "too_late", no_changes_left: "no_changes" };

async function book(event) {
  event.preventDefault();
  const chosen = document.querySelector('input[name="slot"]:checked');
  if (!chosen) {
    say(t("choose_first"), "error");
    return;
  }
  const wasBooked = view.booking && view.booking.status === "booked";
  $("book").disabled = true;
  say(t("booking"));
  try {
    const result = await call("PUT", "/booking", { starts_at: chosen.value, timezone: myZone });
    if (result.ok) {
      view = result.data;
      changing = false;
      render();
      say(t(wasBooked ? "changed_ok" : "booked_ok"), "ok");
      $("booked-title").focus();
      return;
    }
    if (result.data.slots) view.slots = result.data.slots;
    render();
    say(t(PROBLEMS[result.data.code] || "failed"), "error");
  } catch {
    say(t("failed"), "error");
  } finally {
    $("book").disabled = false;
  }
}

async function cancel() {
  if (!confirm(t("confirm_cancel", { time: formatTime(view.booking.starts_at) }))) return;
  const result = await call("DELETE", "/booking");
  if (result.ok) {
    view = result.data;
    changing = false;
    render();
    say(t("cancelled_ok"), "ok");
  } else {
    say(t(PROBLEMS[result.data.code] || "failed"), "error");
  }
}

async function load() {
  renderStatic();
  say(t("loading"));
  try {
    const result = await call("GET");
    if (!result.ok) {
      say(t(result.status === 401 || result.status === 403 ? "link_invalid" : "load_failed"), "error");
      return;
    }
    view = result.data;
    lang = view.language === "zh" ? "zh" : "en";
    render();
    say("");
  } catch {
    say(t("load_failed"), "error");
  }
}

$("booked-title").tabIndex = -1;
$("slot-form").addEventListener("submit", book);
$("cancel").addEventListener("click", cancel);
$("change").addEventListener("click", () => {
  changing = true;
  render();
  $("picker-title").tabIndex = -1;
  $("picker-title").focus();
});
$("keep").addEventListener("click", () => {
  changing = false;
  render();
});
$("lang-switch").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  if (view) render();
  else renderStatic();
});
load();
