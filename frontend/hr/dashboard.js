// HR's workspace: each job's progress by state, the interviews list (search, filters, sort, paging, rows updated live),
// and a candidate's review page (live view while it runs; then summary, answers with video and transcript, integrity,
// business owners' recommendations, sharing, decisions with a note and a confirmation, chat).
import { translator } from "/static/review/i18n.js";
import { el, renderReview } from "/static/review/render.js";
import * as recruiting from "/static/hr/recruiting.js";

const $ = (id) => document.getElementById(id);

const TEXT = {
  en: {
    title: "Interviews", offline: "offline", online: "live", sign_in: "Sign in", sign_out: "Sign out", api_key: "API key",
    your_name: "Your name (kept with the decisions you make)", bad_key: "That API key was not accepted.", name_needed: "Enter your name.",
    jobs: "Jobs at a glance", interviews: "Interviews", search: "Search", search_hint: "name, e-mail or job", job: "Job", status: "Status",
    all: "All", score_from: "Score from", score_to: "Score to", date_from: "From", date_to: "To", flag: "Flag", sort: "Sort",
    sort_newest: "Newest first", sort_oldest: "Oldest first", sort_score_high: "Highest score", sort_score_low: "Lowest score", sort_name: "Name",
    apply: "Apply", clear: "Clear", candidate: "Candidate", score: "Score", progress: "Answered", created: "Scheduled", more: "Load more",
    matched: "{count} interview(s)", none_found: "No interview matches.", back: "← Back to the list", live: "Live now", media: "Media",
    no_video: "No live video.", snapshot_alt: "The candidate's camera, a moment ago", current_question: "Current question",
    next_planned: "Next planned (if this answer is average)", captions: "Live captions", answers_so_far: "Answers scored so far",
    owners: "Business owners", share_title: "Share with a business owner", owner_name: "Owner's name", owner_email: "Owner's e-mail",
    owner_message: "Message (optional)", link_days: "Link works for (days)", show_contact: "Let the owner see the candidate's contact details",
    share: "Share", shared_mail_sent: "Shared. The owner has been e-mailed the link.", shared_no_mail: "Shared. Send the owner this link:",
    shared_mail_failed: "Shared, but the e-mail failed ({why}). Send the owner this link:", share_failed: "Not shared: {why}",
    share_row: "{owner} · until {date}", share_revoked: "withdrawn", share_expired: "expired", share_reviewed: "reviewed",
    share_waiting: "not reviewed yet", remind: "Remind", revoke: "Withdraw", reminded: "Reminder sent.", remind_failed: "No reminder: {why}",
    owner_said: "{owner}: {choice} — “{comment}”", decision: "Decision", choose_decision: "Decision", advance: "Advance", hold: "Hold",
    reject: "Reject", send_to_business_owner: "Sent to the business owner", decision_note: "Why (required; kept with the decision)",
    record_decision: "Record decision…", confirm_title: "Confirm the decision", confirm_text: "{decision} {candidate}? Your note: “{note}”",
    confirm: "Confirm", cancel: "Cancel", pick_decision: "Choose a decision.", note_needed: "Write why.",
    decided_row: "{decision} by {who}, {date}: {note}", decided_ok: "Recorded.", decide_failed: "Not recorded: {why}", someone: "HR",
    chat: "Candidate chat", needs_reply: "needs a reply", reply_placeholder: "Reply to the candidate", send: "Send",
    candidate_says: "Candidate", faq: "FAQ", hr: "HR", system: "System", emotion: "Emotion timeline", how_scored: "How was this scored",
    scheduled: "waiting", in_progress: "in progress", completed: "completed", decided: "decided", cancelled: "cancelled", abandoned: "left unfinished", no_show: "did not come",
    open_review: "Review {name}", load_failed: "Could not load: {why}",
    recruiting: "Booking hours, poster, imports", fairness: "Fairness report", fairness_title: "Fairness report: {job}",
    fairness_intro: "From what candidates chose to say about themselves (never shown to reviewers). Selection rate: advanced of those decided. Scoring rate: scored above the median of every candidate scored. Impact ratio: a group's rate against the highest group's. Groups under 2 % of the candidates are marked and left out of the ratios.",
    fairness_summary: "{candidates} candidate(s); {unknown} did not say. Median score: {median}.",
    by_sex: "By sex", by_race: "By race or ethnicity", by_both: "By sex and race or ethnicity", group: "Group", people: "Candidates",
    selection_rate: "Selection rate", selection_ratio: "Impact ratio (selection)", scoring_rate: "Scoring rate", scoring_ratio: "Impact ratio (scoring)",
    small_group: "(under 2 %)", female: "Female", male: "Male", hispanic_or_latino: "Hispanic or Latino", white: "White",
    black_or_african_american: "Black or African American", native_hawaiian_or_pacific_islander: "Native Hawaiian or other Pacific Islander",
    asian: "Asian", american_indian_or_alaska_native: "American Indian or Alaska Native", two_or_more_races: "Two or more races",
    inbox: "Candidates' messages", inbox_empty: "No messages from candidates.", unread: "{count} unread", reply_to: "Reply to {name}",
    flag_face_often_absent: "face often out of view", flag_multiple_faces: "more than one face", flag_never_answered: "never answered",
    face_present: "face visible", face_absent: "face often absent", multiple_faces: "more than one face",
  },
  zh: {
    title: "面试", offline: "离线", online: "实时", sign_in: "登录", sign_out: "退出", api_key: "API 密钥",
    your_name: "您的姓名（记录在您做出的决定旁）", bad_key: "API 密钥无效。", name_needed: "请填写您的姓名。",
    jobs: "岗位进度一览", interviews: "面试", search: "搜索", search_hint: "姓名、邮箱或岗位", job: "岗位", status: "状态",
    all: "全部", score_from: "最低分", score_to: "最高分", date_from: "开始日期", date_to: "结束日期", flag: "提示", sort: "排序",
    sort_newest: "最新", sort_oldest: "最早", sort_score_high: "得分从高到低", sort_score_low: "得分从低到高", sort_name: "姓名",
    apply: "筛选", clear: "清除", candidate: "候选人", score: "得分", progress: "已答", created: "安排时间", more: "加载更多",
    matched: "共 {count} 场面试", none_found: "没有符合条件的面试。", back: "← 返回列表", live: "正在进行", media: "媒体",
    no_video: "暂无实时画面。", snapshot_alt: "候选人摄像头的最新画面", current_question: "当前问题",
    next_planned: "下一题（若本题表现一般）", captions: "实时字幕", answers_so_far: "已评分的回答",
    owners: "业务负责人", share_title: "分享给业务负责人", owner_name: "负责人姓名", owner_email: "负责人邮箱",
    owner_message: "留言（可选）", link_days: "链接有效天数", show_contact: "允许负责人看到候选人的联系方式",
    share: "分享", shared_mail_sent: "已分享，链接已发到负责人邮箱。", shared_no_mail: "已分享。请把这个链接发给负责人：",
    shared_mail_failed: "已分享，但邮件发送失败（{why}）。请把这个链接发给负责人：", share_failed: "分享失败：{why}",
    share_row: "{owner} · 有效期至 {date}", share_revoked: "已撤回", share_expired: "已过期", share_reviewed: "已评估",
    share_waiting: "尚未评估", remind: "提醒", revoke: "撤回", reminded: "已发送提醒。", remind_failed: "未能提醒：{why}",
    owner_said: "{owner}：{choice} ——“{comment}”", decision: "决定", choose_decision: "选择决定", advance: "进入下一轮", hold: "暂缓",
    reject: "不录用", send_to_business_owner: "已转给业务负责人", decision_note: "理由（必填，会和决定一起保存）",
    record_decision: "记录决定…", confirm_title: "确认决定", confirm_text: "对{candidate}的决定：{decision}？理由：“{note}”",
    confirm: "确认", cancel: "取消", pick_decision: "请选择一个决定。", note_needed: "请填写理由。",
    decided_row: "{who} 于 {date} 决定：{decision}。理由：{note}", decided_ok: "已记录。", decide_failed: "未能记录：{why}", someone: "HR",
    chat: "候选人消息", needs_reply: "待回复", reply_placeholder: "回复候选人", send: "发送",
    candidate_says: "候选人", faq: "常见问题", hr: "HR", system: "系统", emotion: "情绪时间线", how_scored: "评分是怎么算的",
    scheduled: "等待中", in_progress: "进行中", completed: "已完成", decided: "已决定", cancelled: "已取消", abandoned: "未完成已关闭", no_show: "未到场",
    open_review: "查看{name}", load_failed: "加载失败：{why}",
    recruiting: "预约时间、海报与导入", fairness: "公平性报告", fairness_title: "公平性报告：{job}",
    fairness_intro: "依据候选人自愿提供的信息（从不向评估者展示）。录用率：已决定者中进入下一轮的比例。得分率：得分高于全部已评分候选人中位数的比例。影响比：该群体比率与最高群体比率之比。占候选人不足 2% 的群体会标出，不计入影响比。",
    fairness_summary: "共 {candidates} 位候选人，其中 {unknown} 位未提供。得分中位数：{median}。",
    by_sex: "按性别", by_race: "按种族或族裔", by_both: "按性别与种族或族裔", group: "群体", people: "候选人数",
    selection_rate: "录用率", selection_ratio: "影响比（录用）", scoring_rate: "得分率", scoring_ratio: "影响比（得分）",
    small_group: "（不足 2%）", female: "女", male: "男", hispanic_or_latino: "西班牙裔或拉丁裔", white: "白人",
    black_or_african_american: "黑人或非裔美国人", native_hawaiian_or_pacific_islander: "夏威夷原住民或其他太平洋岛民",
    asian: "亚裔", american_indian_or_alaska_native: "美洲印第安人或阿拉斯加原住民", two_or_more_races: "两个或以上种族",
    inbox: "候选人消息", inbox_empty: "暂无候选人消息。", unread: "{count} 条未读", reply_to: "回复{name}",
    flag_face_often_absent: "经常不在画面中", flag_multiple_faces: "出现多张人脸", flag_never_answered: "没有作答",
    face_present: "人脸可见", face_absent: "经常不在画面中", multiple_faces: "出现多张人脸",
  },
};
const STATES = ["scheduled", "in_progress", "completed", "decided", "no_show", "abandoned", "cancelled"];

let lang = localStorage.getItem("hr.lang") ?? (navigator.language.startsWith("zh") ? "zh" : "en");
const t = (key, values = {}) => (TEXT[lang][key] ?? TEXT.en[key] ?? key).replace(/\{(\w+)\}/g, (_, k) => String(values[k] ?? ""));
const when = (epoch) => new Date(epoch * 1000).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { dateStyle: "medium", timeStyle: "short" });

// Exposed for support tooling and end-to-end tests.
const state = (window.dashboard = {
  rows: new Map(), order: [], cursor: null, board: [], selected: null, review: null, detail: null, messages: [], current: null,
  captions: { final: [], partial: "" }, answers: new Map(), faces: [], emotions: [], chat: [], decisions: [], ownerReviews: [],
  shares: [], snapshots: 0, socket: null, online: false, chartPoints: 0,
});
let chart = null;
let watchTimer = null;
let reconnectDelay = 500;
let boardTimer = null;
let inboxTimer = null;

// How many of each candidate's chat messages this browser has seen: the rest are unread.
const seenChats = () => JSON.parse(localStorage.getItem("hr.seenChats") ?? "{}");
function markChatsSeen(id, count) {
  const seen = seenChats();
  seen[id] = Math.max(seen[id] ?? 0, count);
  localStorage.setItem("hr.seenChats", JSON.stringify(seen));
}

const key = () => sessionStorage.getItem("hr.apiKey");
const reviewer = () => sessionStorage.getItem("hr.reviewer") ?? "";

async function api(path, options = {}) {
  // X-Reviewer: who this is, for the audit trail (percent-encoded: a header carries no Chinese as such).
  const headers = { "X-API-Key": key(), "X-Reviewer": encodeURIComponent(reviewer()), ...(options.body ? { "Content-Type": "application/json" } : {}), ...options.headers };
  const response = await fetch(path, { ...options, headers, cache: "no-store" });
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new Error(body?.detail ?? body?.title ?? String(response.status));
  return body;
}

// ---- language ----------------------------------------------------------------------------------------------------
function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  document.querySelectorAll("[data-i18n]").forEach((node) => (node.textContent = t(node.dataset.i18n)));
  document.querySelectorAll("[data-i18n-placeholder]").forEach((node) => (node.placeholder = t(node.dataset.i18nPlaceholder)));
  document.querySelectorAll("[data-i18n-alt]").forEach((node) => (node.alt = t(node.dataset.i18nAlt)));
  document.querySelectorAll("[data-i18n-aria-label]").forEach((node) => node.setAttribute("aria-label", t(node.dataset.i18nAriaLabel)));
  $("lang-switch").textContent = lang === "zh" ? "English" : "中文";
  $("lang-switch").lang = lang === "zh" ? "en" : "zh-CN";
  fillStatusFilter();
  setConnection(state.online);
  renderBoard();
  renderRows();
  renderInbox();
  renderFairness();
  recruiting.applyLanguage(lang);
  if (state.selected) renderReviewPage();
}

// ---- signing in --------------------------------------------------------------------------------------------------
// The API key stays in this tab's sessionStorage (for the HR API); the websocket gets a short-lived session token, so
// the key never appears in a URL. The name is kept with every decision this person records.
async function signIn(apiKey) {
  const response = await fetch("/api/v1/hr/sessions", { method: "POST", headers: { "X-API-Key": apiKey } });
  if (!response.ok) throw new Error(t("bad_key"));
  const session = await response.json();
  sessionStorage.setItem("hr.apiKey", apiKey);
  sessionStorage.setItem("hr.token", session.token);
  return session.token;
}

async function start() {
  if (!key()) {
    $("login").hidden = false;
    $("reviewer").value = reviewer();
    return;
  }
  try {
    await signIn(key());
  } catch {
    sessionStorage.removeItem("hr.apiKey");
    $("login").hidden = false;
    return;
  }
  $("login").hidden = true;
  $("sign-out").hidden = false;
  connect();
  route();
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = (state.socket = new WebSocket(`${scheme}://${location.host}/ws/hr?token=${encodeURIComponent(sessionStorage.getItem("hr.token"))}`));
  socket.addEventListener("open", () => {
    reconnectDelay = 500;
    setConnection(true);
    if (state.selected) send({ type: "watch", interview_id: state.selected });
  });
  socket.addEventListener("message", (event) => onMessage(JSON.parse(event.data)));
  socket.addEventListener("close", () => {
    setConnection(false);
    if (!key()) return;
    setTimeout(() => signIn(key()).then(connect).catch(() => location.reload()), reconnectDelay);  // a new token: the old may have expired
    reconnectDelay = Math.min(reconnectDelay * 2, 15000);
  });
}

function setConnection(online) {
  state.online = online;
  $("connection").textContent = t(online ? "online" : "offline");
  $("connection").className = `badge ${online ? "online" : ""}`;
}

function send(message) {
  if (state.socket?.readyState === WebSocket.OPEN) state.socket.send(JSON.stringify({ v: 1, ...message }));
}

// ---- routing: #/interview/{id} is a candidate's review page, anything else the workspace ---------------------------
function route() {
  const match = location.hash.match(/^#\/interview\/([0-9a-f]{8,64})$/);
  const fairness = location.hash.match(/^#\/fairness\/([A-Za-z0-9._:-]{1,128})$/);
  const recruitingJob = location.hash.match(/^#\/recruiting\/([A-Za-z0-9._:-]{1,128})$/);
  $("fairness-view").hidden = !fairness;
  $("recruiting-view").hidden = !recruitingJob;
  if (match) openReview(match[1]);
  else if (fairness) openFairness(fairness[1]);
  else if (recruitingJob) openRecruiting(recruitingJob[1]);
  else showWorkspace();
}

// ---- a job's recruiting page: booking hours, poster, booked times, imports, HR's calendar feed --------------------
function openRecruiting(jobId) {
  stopWatching();
  state.selected = null;
  $("workspace").hidden = true;
  $("review-view").hidden = true;
  const job = state.board.find((j) => j.job_id === jobId);
  recruiting.open(jobId, job?.job_title);
}

// ---- a job's fairness report (adverse impact, in the shape NYC Local Law 144 audits publish) -----------------------
async function openFairness(jobId) {
  stopWatching();
  state.selected = null;
  $("workspace").hidden = true;
  $("review-view").hidden = true;
  try {
    state.fairness = await api(`/api/v1/jobs/${encodeURIComponent(jobId)}/adverse-impact`);
  } catch (error) {
    $("fairness-tables").replaceChildren(el("p", { class: "error", text: t("load_failed", { why: error.message }) }));
    return;
  }
  renderFairness();
  $("fairness-title").focus();
}

function renderFairness() {
  const r = state.fairness;
  if (!r) return;
  $("fairness-title").textContent = t("fairness_title", { job: r.job_title });
  $("fairness-title").tabIndex = -1;
  $("fairness-summary").textContent = t("fairness_summary", { candidates: r.candidates, unknown: r.unknown.any, median: r.median_score ?? "–" });
  const percent = (value) => (value === null || value === undefined ? "–" : `${Math.round(value * 100)}%`);
  const ratio = (value) => (value === null || value === undefined ? "–" : value.toFixed(2));
  const label = (category) => category.split("|").map((c) => t(c)).join(" · ");
  const table = (title, rows) => el("div", { class: "table-wrap" }, el("table", { class: "fairness" },
    el("caption", { text: title }),
    el("thead", {}, el("tr", {}, ...["group", "people", "selection_rate", "selection_ratio", "scoring_rate", "scoring_ratio"].map((k) => el("th", { scope: "col", text: t(k) })))),
    el("tbody", {}, ...rows.filter((row) => row.candidates > 0 || !row.category.includes("|")).map((row) => el("tr", {},
      el("th", { scope: "row" }, label(row.category), row.small ? ` ${t("small_group")}` : ""),
      el("td", { text: String(row.candidates) }), el("td", { text: percent(row.selection_rate) }), el("td", { text: ratio(row.selection_impact_ratio) }),
      el("td", { text: percent(row.scoring_rate) }), el("td", { text: ratio(row.scoring_impact_ratio) }))))));
  $("fairness-tables").replaceChildren(table(t("by_sex"), r.sex), table(t("by_race"), r.race), table(t("by_both"), r.intersectional));
}

function showWorkspace() {
  stopWatching();
  state.selected = null;
  state.fairness = null;
  $("review-view").hidden = true;
  $("workspace").hidden = false;
  loadBoard();
  loadInbox();
  if (!state.order.length) loadList(true);
}

// ---- the inbox: interviews whose candidate wrote, newest message first, unread counts, a reply from here ------------
async function loadInbox() {
  let page;
  try {
    page = await api("/api/v1/interviews?inbox=true&sort=last_message&limit=20");
  } catch {
    return;
  }
  state.inbox = page.interviews;
  renderInbox();
}

function refreshInboxSoon() {
  clearTimeout(inboxTimer);
  inboxTimer = setTimeout(loadInbox, 500);
}

function renderInbox() {
  const rows = state.inbox ?? [];
  const seen = seenChats();
  let unreadTotal = 0;
  $("inbox-empty").hidden = rows.length > 0;
  $("inbox").replaceChildren(...rows.map((row) => {
    const unread = Math.max(0, row.chat_count - (seen[row.id] ?? 0));
    unreadTotal += unread;
    const input = el("input", { maxlength: 2000, "aria-label": t("reply_to", { name: row.candidate_name }) });
    const form = el("form", { class: "inline" }, input, el("button", { type: "submit", text: t("send") }));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      send({ type: "chat.reply", interview_id: row.id, text });
      input.value = "";
      markChatsSeen(row.id, row.chat_count);
      refreshInboxSoon();
    });
    return el("li", { "data-interview": row.id, class: row.needs_reply ? "needs-reply" : "" },
      el("a", { href: `#/interview/${row.id}`, text: row.candidate_name }), " ",
      unread ? el("span", { class: "badge unread", text: t("unread", { count: unread }) }) : null, " ",
      row.needs_reply ? el("span", { class: "flag", text: t("needs_reply") }) : null,
      el("p", { class: "last-chat", text: row.last_chat ?? "" }), form);
  }));
  $("inbox-unread").hidden = unreadTotal === 0;
  $("inbox-unread").textContent = t("unread", { count: unreadTotal });
}

// ---- board and list ----------------------------------------------------------------------------------------------
async function loadBoard() {
  try {
    state.board = (await api("/api/v1/board")).jobs;
  } catch (error) {
    return;
  }
  renderBoard();
  const jobs = $("f-job");
  const chosen = jobs.value;
  jobs.replaceChildren(el("option", { value: "", text: t("all") }), ...state.board.filter((j) => j.job_id).map((j) => el("option", { value: j.job_id, text: j.job_title })));
  jobs.value = chosen;
}

function refreshBoardSoon() {
  clearTimeout(boardTimer);
  boardTimer = setTimeout(loadBoard, 800);
}

function renderBoard() {
  const board = $("board");
  board.replaceChildren(...state.board.map((job) => {
    const counts = el("ul", { class: "counts" });
    for (const s of STATES) {
      const n = job.counts[s] ?? 0;
      const button = el("button", { type: "button", class: `count ${s}`, "data-state": s, text: `${t(s)} ${n}` });
      button.addEventListener("click", () => {
        $("f-job").value = job.job_id ?? "";
        $("f-status").value = s;
        $("f-q").value = job.job_id ? "" : job.job_title;
        loadList(true);
      });
      counts.append(el("li", {}, button));
    }
    const card = el("section", { class: "job", "data-job": job.job_id ?? job.job_title }, el("h3", { text: job.job_title }), counts);
    if (job.job_id) {
      card.append(el("a", { class: "fairness-link", href: `#/recruiting/${encodeURIComponent(job.job_id)}`, text: t("recruiting") }), " ");
      card.append(el("a", { class: "fairness-link", href: `#/fairness/${encodeURIComponent(job.job_id)}`, text: t("fairness") }));
    }
    Object.assign(card.dataset, Object.fromEntries(STATES.map((s) => [s.replace(/_(\w)/g, (_, c) => c.toUpperCase()), job.counts[s] ?? 0])));
    return card;
  }));
}

function fillStatusFilter() {
  const select = $("f-status");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "", text: t("all") }), ...STATES.map((s) => el("option", { value: s, text: t(s) })));
  select.value = chosen;
}

function query() {
  const params = new URLSearchParams();
  const set = (name, value) => value && params.set(name, value);
  set("q", $("f-q").value.trim());
  set("job_id", $("f-job").value);
  set("status", $("f-status").value);
  set("score_min", $("f-score-min").value);
  set("score_max", $("f-score-max").value);
  set("created_from", $("f-from").value);
  set("created_to", $("f-to").value);
  set("flag", $("f-flag").value);
  set("sort", $("f-sort").value);
  params.set("limit", "50");
  return params;
}

async function loadList(reset) {
  const params = query();
  if (!reset && state.cursor) params.set("cursor", state.cursor);
  let page;
  try {
    page = await api(`/api/v1/interviews?${params}`);
  } catch (error) {
    $("matched").textContent = t("load_failed", { why: error.message });
    return;
  }
  if (reset) {
    state.rows.clear();
    state.order = [];
  }
  for (const row of page.interviews) {
    state.rows.set(row.id, row);
    state.order.push(row.id);
  }
  state.cursor = page.next_cursor;
  state.matched = page.matched;
  renderRows();
}

function renderRows() {
  $("matched").textContent = state.order.length ? t("matched", { count: state.matched ?? state.order.length }) : t("none_found");
  $("more").hidden = !state.cursor;
  $("list").querySelector("tbody").replaceChildren(...state.order.map((id) => rowElement(state.rows.get(id))));
}

function rowElement(row) {
  const link = el("a", { href: `#/interview/${row.id}`, text: row.candidate_name, "aria-label": t("open_review", { name: row.candidate_name }) });
  const status = el("span", { class: `badge ${row.status}`, text: t(row.status) });
  return el("tr", { "data-interview": row.id },
    el("th", { scope: "row" }, link),
    el("td", { text: row.job_title }),
    el("td", {}, status),
    el("td", { text: row.overall === null || row.overall === undefined ? "–" : String(row.overall) }),
    el("td", { text: `${row.answered}/${row.max_questions}` }),
    el("td", { text: when(row.created_at) }));
}

// A change pushed over the websocket: the row, wherever it is on screen, changes in place; the board is recounted.
function updateRow(summary) {
  const row = state.rows.get(summary.id);
  if (row) {
    Object.assign(row, { status: summary.status, answered: summary.answered });
    const old = $("list").querySelector(`tr[data-interview="${summary.id}"]`);
    if (old) old.replaceWith(rowElement(row));
  }
  refreshBoardSoon();
}

// ---- the websocket -----------------------------------------------------------------------------------------------
function onMessage(m) {
  state.messages.push({ at: performance.now(), type: m.type, interview_id: m.interview_id });
  if (state.messages.length > 2000) state.messages.splice(0, 1000);
  if (m.type === "interviews") return;  // the list comes from the search API; the socket says what changes
  if (m.type === "interview") {
    updateRow(m.interview);
    if (m.interview.id === state.selected) {
      state.summary = m.interview;
      renderLive();
      if (["completed", "decided", "abandoned", "cancelled"].includes(m.interview.status)) loadReview();
    }
    return;
  }
  if (m.type === "error") return console.warn("dashboard:", m.code, m.message);
  if (m.type === "chat" && !state.selected) refreshInboxSoon();
  if (!m.interview_id || m.interview_id !== state.selected) return;
  switch (m.type) {
    case "detail":
      state.detail = m;
      state.summary = m.interview;
      m.answers.forEach((a) => state.answers.set(a.index, a));
      state.faces = m.faces.map((f) => ({ start_s: f.start_s, ...f.data }));
      state.emotions = (m.emotions ?? []).map((e) => ({ start_s: e.start_s, ...e.data }));
      state.chat = m.chat;
      state.needsReply = m.needs_reply;
      markChatsSeen(m.interview_id, m.chat.filter((c) => c.sender === "candidate").length);
      if (m.current) state.current = m.current;
      renderLive();
      renderChat();
      renderEmotion();
      break;
    case "question":
      state.current = m;
      state.captions = { final: [], partial: "" };
      renderLive();
      break;
    case "caption":
      if (m.final) {
        if (m.stable) state.captions.final.push(m.stable);
        state.captions.partial = "";
      } else state.captions.partial = `${m.stable} ${m.unstable}`.trim();
      renderCaptions();
      break;
    case "media":
      state.media = m.reason ? `${m.state}: ${m.reason.replaceAll("_", " ")}` : m.state;
      state.mediaState = m.state;
      renderLive();
      break;
    case "answer":
      state.answers.set(m.answer.index, m.answer);
      renderAnswers();
      break;
    case "face":
      state.faces.push(m);
      renderFlags();
      break;
    case "emotion":
      state.emotions.push(m);
      renderEmotion();
      break;
    case "snapshot":
      $("snapshot").src = `data:image/jpeg;base64,${m.jpeg_base64}`;
      $("snapshot").hidden = false;
      $("no-video").hidden = true;
      state.snapshots += 1;
      break;
    case "chat":
      markChatsSeen(state.selected, state.chat.filter((c) => c.sender === "candidate").length + (m.sender === "candidate" ? 1 : 0));
      state.chat.push({ sender: m.sender, text: m.text, at: Date.now() / 1000, escalated: m.escalated });
      if (m.sender === "candidate" && m.escalated) state.needsReply = true;
      if (m.sender === "hr") state.needsReply = false;
      renderChat();
      break;
    case "report":
    case "recordings":
      loadReview();
      break;
    case "decision":
      state.decisions.push(m.decision);
      renderDecisions();
      break;
    case "owner_review":
      state.ownerReviews.push(m.review);
      renderOwners();
      loadShares();
      break;
  }
}

// ---- a candidate's review page -----------------------------------------------------------------------------------
function stopWatching() {
  clearInterval(watchTimer);
  watchTimer = null;
  $("review-view").querySelectorAll("video").forEach((v) => v.pause());
}

function openReview(id) {
  stopWatching();
  Object.assign(state, {
    selected: id, review: null, detail: null, summary: state.rows.get(id) ?? null, current: null, media: null, mediaState: null,
    captions: { final: [], partial: "" }, answers: new Map(), faces: [], emotions: [], chat: [], decisions: [], ownerReviews: [],
    shares: [], snapshots: 0, needsReply: false,
  });
  $("workspace").hidden = true;
  $("review-view").hidden = false;
  $("snapshot").hidden = true;
  $("no-video").hidden = false;
  $("review").replaceChildren();
  $("decision-feedback").textContent = "";
  $("share-feedback").textContent = "";
  renderReviewPage();
  send({ type: "watch", interview_id: id });
  // The node running the interview sends stills while someone watches; renew before its 15 s lapse.
  watchTimer = setInterval(() => send({ type: "watch", interview_id: id, detail: false }), 5000);
  loadReview();
  loadShares();
  $("back").focus();
}

async function loadReview() {
  const id = state.selected;
  try {
    const doc = await api(`/api/v1/interviews/${id}/review`);
    if (id !== state.selected) return;
    state.review = doc;
    state.decisions = doc.decisions;
    state.ownerReviews = doc.owner_reviews;
    state.summary = { ...(state.summary ?? {}), status: doc.interview.status };
  } catch (error) {
    $("review").replaceChildren(el("p", { class: "error", text: t("load_failed", { why: error.message }) }));
    return;
  }
  renderReviewPage();
}

async function loadShares() {
  const id = state.selected;
  try {
    const shares = (await api(`/api/v1/interviews/${id}/shares`)).shares;
    if (id === state.selected) state.shares = shares;
  } catch {
    return;
  }
  renderOwners();
}

function renderReviewPage() {
  renderLive();
  renderChat();
  renderEmotion();
  renderDecisions();
  renderOwners();
  const doc = state.review;
  if (!doc) return;
  // Playing videos survive a redraw (a report arriving, the language changing): the same elements are kept.
  const playing = [...$("review").querySelectorAll("video")].filter((v) => !v.paused);
  if (!playing.length) $("review").replaceChildren(renderReview(doc, translator(lang), "hr"));
  $("how-scored-body").textContent = JSON.stringify(doc.how_scored, null, 2);
}

function renderLive() {
  const status = state.summary?.status;
  const live = status === "in_progress" || (status === "scheduled" && state.mediaState);
  $("live").hidden = !live;
  $("d-media").textContent = state.media ?? "";
  $("d-media").className = `badge ${state.mediaState ?? ""}`;
  const c = live ? state.current : null;
  $("current-question").textContent = c ? `${c.index + 1}. ${c.question.text}` : "";
  $("next-planned").textContent = c?.next_planned ? c.next_planned.text : "–";
  renderCaptions();
  renderAnswers();
  renderFlags();
}

function renderCaptions() {
  $("cap-final").textContent = state.captions.final.join(" ");
  $("cap-partial").textContent = state.captions.partial;
}

function renderAnswers() {
  $("answers").replaceChildren(...[...state.answers.values()].sort((a, b) => a.index - b.index).map((a) =>
    el("li", { "data-index": a.index }, el("span", { text: a.text }), " — ", el("strong", { class: "answer-score", text: String(Math.round(a.score)) }),
      ...a.key_points_hit.map((k) => el("span", { class: "hit", text: ` ✓ ${k.text}` })),
      ...a.key_points_missed.map((k) => el("span", { class: "miss", text: ` ✗ ${k.text}` })))));
}

function renderFlags() {
  const seconds = state.faces.length;
  if (!seconds) return $("flags").replaceChildren();
  const present = state.faces.filter((f) => f.face_present).length / seconds;
  const flags = [el("span", { class: "flag", "data-flag": present < 0.8 ? "face_absent" : "face_present", text: `${t(present < 0.8 ? "face_absent" : "face_present")} ${Math.round(present * 100)}%` })];
  if (state.faces.some((f) => f.multiple_faces)) flags.push(el("span", { class: "flag", "data-flag": "multiple_faces", text: t("multiple_faces") }));
  $("flags").replaceChildren(...flags);
}

const EMOTION_COLOURS = { happy: "#1b7f3a", neutral: "#595959", sad: "#0a58a8", angry: "#b3261e", surprise: "#9a5b00", fear: "#7a3ea1", disgust: "#6b5437" };

function renderEmotion() {
  const on = Boolean(state.summary?.emotion_analysis && state.emotions.length);
  $("emotion-section").hidden = !on;
  if (!on || typeof Chart === "undefined") return;
  const labels = state.emotions.map((e) => Math.round(e.start_s));
  const datasets = Object.keys(state.emotions[0].probabilities).map((name) => ({
    label: name, data: state.emotions.map((e) => e.probabilities[name]), borderColor: EMOTION_COLOURS[name] ?? "#333",
    backgroundColor: EMOTION_COLOURS[name] ?? "#333", pointRadius: 0, tension: 0.3, fill: false,
  }));
  if (!chart || chart.canvas !== $("emotion-chart")) {
    chart?.destroy();
    chart = new Chart($("emotion-chart"), { type: "line", data: { labels, datasets }, options: { animation: false, scales: { y: { min: 0, max: 1 } }, plugins: { legend: { position: "bottom" } } } });
  } else {
    chart.data.labels = labels;
    chart.data.datasets = datasets;
    chart.update("none");
  }
  state.chartPoints = labels.length;
}

function renderChat() {
  $("needs-reply").hidden = !state.needsReply;
  $("chat-log").replaceChildren(...state.chat.map((c) =>
    el("li", { "data-sender": c.sender, class: c.escalated && c.sender === "candidate" ? "escalated" : "" },
      el("strong", { text: `${t(c.sender === "candidate" ? "candidate_says" : c.sender)}: ` }), c.text,
      c.escalated && c.sender === "candidate" ? el("span", { class: "flag", text: t("needs_reply") }) : null)));
}

function renderDecisions() {
  $("decisions").replaceChildren(...state.decisions.map((d) =>
    el("li", { "data-decision": d.decision, text: t("decided_row", { decision: t(d.decision), who: d.decided_by || t("someone"), date: when(d.created_at ?? d.decided_at), note: d.note }) })));
}

function renderOwners() {
  const choice = (r) => translator(lang)(r.recommendation);
  $("owner-reviews").replaceChildren(...state.ownerReviews.map((r) =>
    el("li", { class: `owner-review ${r.recommendation}`, text: t("owner_said", { owner: r.owner_name, choice: choice(r), comment: r.comment }) })));
  $("shares").replaceChildren(...state.shares.map((s) => {
    const status = s.revoked_at ? t("share_revoked") : !s.usable ? t("share_expired") : s.reviews.length ? t("share_reviewed") : t("share_waiting");
    const item = el("li", { "data-share": s.id }, `${t("share_row", { owner: s.owner_name, date: when(s.expires_at) })} · `, el("em", { text: status }));
    if (s.usable) {
      if (!s.reviews.length) {
        const remind = el("button", { type: "button", class: "secondary small", text: t("remind") });
        remind.addEventListener("click", () => remindOwner(s.id, remind));
        item.append(" ", remind);
      }
      const revoke = el("button", { type: "button", class: "secondary small", text: t("revoke") });
      revoke.addEventListener("click", async () => {
        await api(`/api/v1/shares/${s.id}`, { method: "DELETE" }).catch(() => {});
        loadShares();
      });
      item.append(" ", revoke);
    }
    return item;
  }));
}

async function remindOwner(shareId, button) {
  button.disabled = true;
  try {
    await api(`/api/v1/shares/${shareId}/reminders`, { method: "POST" });
    $("share-feedback").textContent = t("reminded");
  } catch (error) {
    $("share-feedback").textContent = t("remind_failed", { why: error.message });
  } finally {
    button.disabled = false;
  }
}

// ---- forms -------------------------------------------------------------------------------------------------------
$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("reviewer").value.trim();
  if (!name) {
    $("login-error").textContent = t("name_needed");
    $("reviewer").focus();
    return;
  }
  try {
    await signIn($("api-key").value.trim());
    sessionStorage.setItem("hr.reviewer", name);
    $("api-key").value = "";
    $("login-error").textContent = "";
    start();
  } catch (error) {
    $("login-error").textContent = error.message;
  }
});

$("filters").addEventListener("submit", (event) => {
  event.preventDefault();
  loadList(true);
});
$("filters").addEventListener("reset", () => setTimeout(() => loadList(true)));
$("more").addEventListener("click", () => loadList(false));

$("share-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const feedback = $("share-feedback");
  const body = {
    interview_ids: [state.selected], owner_name: $("s-name").value.trim(), owner_email: $("s-email").value.trim(),
    message: $("s-message").value.trim(), expires_in_hours: Math.max(1, Number($("s-days").value || 7)) * 24,
    show_contact: $("s-contact").checked, language: lang, shared_by: reviewer() || null,
  };
  try {
    const created = await api("/api/v1/shares", { method: "POST", body: JSON.stringify(body), headers: { "Idempotency-Key": crypto.randomUUID() } });
    state.lastShare = created;
    if (created.mail === "sent") feedback.replaceChildren(t("shared_mail_sent"));
    else {
      const why = created.mail.replace(/^failed: /, "");
      feedback.replaceChildren(created.mail === "not_configured" ? t("shared_no_mail") : t("shared_mail_failed", { why }), " ", el("a", { href: created.link, text: created.link }));
    }
    $("share-form").reset();
    loadShares();
  } catch (error) {
    feedback.textContent = t("share_failed", { why: error.message });
  }
});

$("decision-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const decision = $("decision-form").querySelector("input[name=decision]:checked")?.value;
  const note = $("decision-note").value.trim();
  const feedback = $("decision-feedback");
  feedback.className = "error";
  if (!decision) return (feedback.textContent = t("pick_decision"));
  if (!note) {
    feedback.textContent = t("note_needed");
    return $("decision-note").focus();
  }
  feedback.textContent = "";
  const name = state.review?.candidate.name ?? state.summary?.candidate_name ?? "";
  $("confirm-text").textContent = t("confirm_text", { decision: t(decision), candidate: name, note });
  $("confirm").dataset.decision = decision;
  $("confirm").showModal();
  $("confirm-no").focus();
});
$("confirm-no").addEventListener("click", () => $("confirm").close());
$("confirm-yes").addEventListener("click", async () => {
  const decision = $("confirm").dataset.decision;
  $("confirm").close();
  const feedback = $("decision-feedback");
  try {
    await api(`/api/v1/interviews/${state.selected}/decisions`, {
      method: "POST",
      headers: { "Idempotency-Key": crypto.randomUUID() },
      body: JSON.stringify({ decision, note: $("decision-note").value.trim(), decided_by: reviewer() || null }),
    });
    feedback.className = "ok";
    feedback.textContent = t("decided_ok");
    $("decision-form").reset();
  } catch (error) {
    feedback.className = "error";
    feedback.textContent = t("decide_failed", { why: error.message });
  }
});

$("chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("chat-reply").value.trim();
  if (!text || !state.selected) return;
  send({ type: "chat.reply", interview_id: state.selected, text });
  $("chat-reply").value = "";
});

$("sign-out").addEventListener("click", () => {
  sessionStorage.clear();
  state.socket?.close(1000);
  location.reload();
});
$("lang-switch").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem("hr.lang", lang);
  applyLanguage();
});
window.addEventListener("hashchange", () => key() && route());

recruiting.setup({ api, key });
applyLanguage();
start();
