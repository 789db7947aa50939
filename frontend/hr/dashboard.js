// The HR dashboard: the tenant's jobs and interviews, one interview live (captions, scores, stills, chat), its report.
const $ = (id) => document.getElementById(id);

const TEXT = {
  en: {
    title: "Interviews", offline: "offline", online: "live", sign_in: "Sign in", sign_out: "Sign out", api_key: "API key",
    pick: "Pick an interview on the left.", match: "match", no_video: "No live video.", current_question: "Current question",
    next_planned: "Next planned (if this answer is average)", captions: "Live captions", answers: "Answers", question: "Question",
    score: "Score", key_points: "Key points", emotion: "Emotion timeline", chat: "Candidate chat", send: "Send",
    reply_placeholder: "Reply to the candidate", report: "Report", overall: "overall", advance: "Recommend hire", reject: "Reject",
    send_owner: "Send to business owner", waiting: "waiting", in_progress: "in progress", completed: "completed",
    cancelled: "cancelled", abandoned: "left unfinished", scheduled: "waiting", none: "none", face_absent: "face often absent", multiple_faces: "more than one face",
    face_present: "face visible", decided: "Decision recorded:", bad_key: "That API key was not accepted.",
    candidate: "candidate", faq: "FAQ", hr: "HR", system: "system", needs_reply: "needs a reply",
    recordings: "Recordings", play: "Play", from_s: "from {s} s",
  },
  zh: {
    title: "面试", offline: "离线", online: "实时", sign_in: "登录", sign_out: "退出", api_key: "API 密钥",
    pick: "请在左侧选择一场面试。", match: "匹配度", no_video: "暂无实时画面。", current_question: "当前问题",
    next_planned: "下一题（若本题表现一般）", captions: "实时字幕", answers: "回答", question: "问题",
    score: "得分", key_points: "要点", emotion: "情绪时间线", chat: "候选人消息", send: "发送",
    reply_placeholder: "回复候选人", report: "报告", overall: "总分", advance: "建议录用", reject: "不录用",
    send_owner: "转给业务负责人", waiting: "等待中", in_progress: "进行中", completed: "已完成",
    cancelled: "已取消", abandoned: "未完成已关闭", scheduled: "等待中", none: "无", face_absent: "经常不在画面中", multiple_faces: "出现多张人脸",
    face_present: "人脸可见", decided: "已记录决定：", bad_key: "API 密钥无效。",
    candidate: "候选人", faq: "常见问题", hr: "HR", system: "系统", needs_reply: "待回复",
    recordings: "录音", play: "播放", from_s: "从第 {s} 秒起",
  },
};
let lang = localStorage.getItem("hr.lang") ?? (navigator.language.startsWith("zh") ? "zh" : "en");
const t = (key) => TEXT[lang][key] ?? TEXT.en[key] ?? key;

// Exposed for support tooling and end-to-end tests.
const state = (window.dashboard = {
  interviews: new Map(), selected: null, detail: null, messages: [], captions: { final: [], partial: "" },
  answers: new Map(), faces: [], emotions: [], chat: [], report: null, socket: null, decisions: [], recordings: [],
});
let chart = null;
let watchTimer = null;
let reconnectDelay = 500;

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => (el.textContent = t(el.dataset.i18n)));
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => (el.placeholder = t(el.dataset.i18nPlaceholder)));
  $("lang-switch").textContent = lang === "zh" ? "English" : "中文";
  renderJobs();
  renderDetail();
}

// Signing in: the API key stays in this tab's sessionStorage (for decisions over the HR API); the websocket
// gets a short-lived session token instead, so the key never appears in a URL.
async function signIn(key) {
  const response = await fetch("/api/v1/hr/sessions", { method: "POST", headers: { "X-API-Key": key } });
  if (!response.ok) throw new Error(t("bad_key"));
  const session = await response.json();
  sessionStorage.setItem("hr.apiKey", key);
  sessionStorage.setItem("hr.token", session.token);
  return session.token;
}

async function start() {
  const key = sessionStorage.getItem("hr.apiKey");
  if (!key) {
    $("login").hidden = false;
    return;
  }
  try {
    await signIn(key);
  } catch (error) {
    sessionStorage.clear();
    $("login").hidden = false;
    return;
  }
  $("login").hidden = true;
  $("board").hidden = false;
  $("sign-out").hidden = false;
  connect();
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
    if (!sessionStorage.getItem("hr.apiKey")) return;
    // A new token each time: the old one may have expired.
    setTimeout(() => start(), reconnectDelay);
    reconnectDelay = Math.min(reconnectDelay * 2, 15000);
  });
}

function setConnection(online) {
  $("connection").textContent = t(online ? "online" : "offline");
  $("connection").className = `badge ${online ? "online" : ""}`;
}

function send(message) {
  if (state.socket?.readyState === WebSocket.OPEN) state.socket.send(JSON.stringify({ v: 1, ...message }));
}

function onMessage(m) {
  state.messages.push({ at: performance.now(), type: m.type, interview_id: m.interview_id });
  if (m.type === "interviews") {
    state.interviews = new Map(m.interviews.map((i) => [i.id, i]));
    renderJobs();
    return;
  }
  if (m.type === "interview") {
    state.interviews.set(m.interview.id, m.interview);
    renderJobs();
    if (m.interview.id === state.selected) {
      renderHeader();
      renderQuestion();
    }
    return;
  }
  if (m.type === "error") {
    console.warn("dashboard:", m.code, m.message);
    return;
  }
  if (!m.interview_id || m.interview_id !== state.selected) return;
  switch (m.type) {
    case "detail":
      loadDetail(m);
      break;
    case "question":
      state.current = m;
      state.captions = { final: [], partial: "" };
      renderQuestion();
      renderCaptions();
      break;
    case "caption":
      if (m.final) {
        if (m.stable) state.captions.final.push(m.stable);
        state.captions.partial = "";
      } else {
        state.captions.partial = `${m.stable} ${m.unstable}`.trim();
      }
      renderCaptions();
      break;
    case "media":
      state.media = m.reason ? `${m.state}: ${m.reason.replaceAll("_", " ")}` : m.state;
      state.mediaState = m.state;
      renderHeader();
      // A session's recording is listed once the session has closed.
      if (m.state === "closed" || m.state === "failed") setTimeout(() => loadRecordings(m.interview_id), 500);
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
      state.snapshots = (state.snapshots ?? 0) + 1;
      break;
    case "chat":
      state.chat.push(m);
      renderChat();
      break;
    case "report":
      state.report = m.report;
      renderReport();
      setTimeout(() => loadRecordings(m.interview_id), 1000);
      break;
    case "decision":
      state.decisions.push(m.decision);
      $("decision-state").textContent = `${t("decided")} ${m.decision.decision}`;
      break;
  }
}

function select(id) {
  if (id !== state.selected) dropPlayers();
  state.selected = id;
  Object.assign(state, { detail: null, current: null, media: null, mediaState: null, captions: { final: [], partial: "" }, answers: new Map(),
    faces: [], emotions: [], chat: [], report: null, decisions: [], snapshots: 0, recordings: [] });
  $("snapshot").hidden = true;
  $("no-video").hidden = false;
  renderJobs();
  renderDetail();
  send({ type: "watch", interview_id: id });
  clearInterval(watchTimer);
  // The node running the interview sends stills while someone watches; renew before its 15 s lapse.
  watchTimer = setInterval(() => send({ type: "watch", interview_id: id, detail: false }), 5000);
}

function loadDetail(d) {
  state.detail = d;
  state.interviews.set(d.interview.id, d.interview);
  d.answers.forEach((a) => state.answers.set(a.index, a));
  state.faces = d.faces.map((f) => ({ start_s: f.start_s, ...f.data }));
  state.emotions = (d.emotions ?? []).map((e) => ({ start_s: e.start_s, ...e.data }));
  state.chat = d.chat;
  if (d.current) state.current = d.current;
  state.report = d.report;
  state.decisions = d.decisions;
  state.recordings = d.recordings;
  renderDetail();
}

function renderJobs() {
  const jobs = new Map();
  for (const i of state.interviews.values()) {
    const key = i.job_id ?? i.job_title;
    if (!jobs.has(key)) jobs.set(key, { title: i.job_title, interviews: [] });
    jobs.get(key).interviews.push(i);
  }
  const nav = $("jobs");
  nav.replaceChildren();
  for (const [key, job] of jobs) {
    const count = (s) => job.interviews.filter((i) => i.status === s).length;
    const section = document.createElement("section");
    section.className = "job";
    section.dataset.job = key;
    const title = document.createElement("h2");
    title.textContent = job.title;
    const counts = document.createElement("p");
    counts.className = "counts";
    counts.dataset.waiting = count("scheduled");
    counts.dataset.inProgress = count("in_progress");
    counts.dataset.completed = count("completed");
    counts.textContent = `${t("waiting")} ${count("scheduled")} · ${t("in_progress")} ${count("in_progress")} · ${t("completed")} ${count("completed")}`;
    const list = document.createElement("ul");
    for (const i of job.interviews) {
      const row = document.createElement("li");
      row.dataset.interview = i.id;
      if (i.id === state.selected) row.className = "selected";
      const name = document.createElement("span");
      name.textContent = i.candidate_name;
      const status = document.createElement("span");
      status.className = `badge ${i.status}`;
      status.textContent = `${t(i.status)} ${i.answered}/${i.max_questions}`;
      row.append(name, status);
      row.addEventListener("click", () => select(i.id));
      list.append(row);
    }
    section.append(title, counts, list);
    nav.append(section);
  }
}

function renderDetail() {
  const chosen = state.selected && state.interviews.get(state.selected);
  $("pick").hidden = Boolean(chosen);
  $("detail-body").hidden = !chosen;
  if (!chosen) return;
  renderHeader();
  renderQuestion();
  renderCaptions();
  renderAnswers();
  renderFlags();
  renderEmotion();
  renderChat();
  renderReport();
  renderRecordings();
}

async function loadRecordings(id) {
  const response = await fetch(`/api/v1/interviews/${id}/recordings`, { headers: { "X-API-Key": sessionStorage.getItem("hr.apiKey") } });
  if (!response.ok || id !== state.selected) return;
  state.recordings = (await response.json()).recordings;
  renderRecordings();
}

// Players HR opened, by recording name: the list is redrawn whenever a session closes or the detail reloads, and a
// redraw must not stop what HR is listening to. Emptied (and their memory released) when HR picks another interview.
const players = new Map();

function dropPlayers() {
  players.forEach((audio) => { audio.pause(); URL.revokeObjectURL(audio.src); });
  players.clear();
}

// Each session's audio; fetched with the API key when asked for, then played from memory.
function renderRecordings() {
  const interviewId = state.selected;
  $("recordings-section").hidden = !state.recordings.length;
  $("recordings").replaceChildren(...state.recordings.map((r) => {
    const li = document.createElement("li");
    li.dataset.name = r.name;
    const label = document.createElement("span");
    label.textContent = `${t("from_s").replace("{s}", Math.round(r.starts_s))} · ${Math.round(r.seconds)} s `;
    if (players.has(r.name)) {
      li.append(label, players.get(r.name));
      return li;
    }
    const play = document.createElement("button");
    play.type = "button";
    play.textContent = t("play");
    play.addEventListener("click", async () => {
      const response = await fetch(r.url, { headers: { "X-API-Key": sessionStorage.getItem("hr.apiKey") } });
      if (!response.ok) {  // say why (kept on another node, erased meanwhile) rather than do nothing
        const problem = await response.json().catch(() => ({}));
        const why = Object.assign(document.createElement("span"), { className: "error", textContent: problem.detail || response.statusText });
        play.replaceWith(why);
        return;
      }
      const blob = await response.blob();
      if (state.selected !== interviewId) return;  // HR moved to another interview meanwhile
      const audio = Object.assign(document.createElement("audio"), { controls: true, src: URL.createObjectURL(blob) });
      players.set(r.name, audio);
      if (play.isConnected) play.replaceWith(audio);
      else renderRecordings();  // the list was redrawn while the file came
      audio.play().catch(() => {});
    });
    li.append(label, play);
    return li;
  }));
}

function renderHeader() {
  const i = state.interviews.get(state.selected);
  if (!i) return;
  $("d-candidate").textContent = i.candidate_name;
  $("d-status").textContent = t(i.status);
  $("d-status").className = `badge ${i.status}`;
  $("d-media").textContent = state.media ?? "";
  $("d-media").className = `badge ${state.mediaState ?? ""}`;
  $("d-media").hidden = !state.media;
  $("d-job").textContent = i.job_title;
  $("d-match").textContent = state.detail ? Math.round(state.detail.match.score ?? 0) : "";
}

function renderQuestion() {
  const status = state.interviews.get(state.selected)?.status;
  // A finished interview has no current question; its answers and report say the rest.
  const c = ["completed", "cancelled", "abandoned"].includes(status) ? null : state.current;
  $("current-question").textContent = c ? `${c.index + 1}. ${c.question.text}` : "";
  $("current-reason").textContent = c ? c.reason : "";
  $("next-planned").textContent = c?.next_planned ? c.next_planned.text : t("none");
}

function renderCaptions() {
  $("cap-final").textContent = state.captions.final.join(" ");
  $("cap-partial").textContent = state.captions.partial;
}

function renderAnswers() {
  const body = $("answers").querySelector("tbody");
  body.replaceChildren();
  for (const a of [...state.answers.values()].sort((x, y) => x.index - y.index)) {
    const row = document.createElement("tr");
    row.dataset.index = a.index;
    const points = document.createElement("td");
    for (const k of a.key_points_hit) {
      const el = document.createElement("div");
      el.className = "hit";
      el.textContent = `✓ ${k.text}${k.matched ? ` — “${k.snippet ?? k.matched}”` : ""}`;
      points.append(el);
    }
    for (const k of a.key_points_missed) {
      const el = document.createElement("div");
      el.className = "miss";
      el.textContent = `✗ ${k.text}`;
      points.append(el);
    }
    row.append(cell(String(a.index + 1)), cell(a.text), cell(String(Math.round(a.score))), points);
    body.append(row);
  }
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function renderFlags() {
  const box = $("flags");
  box.replaceChildren();
  const seconds = state.faces.length;
  if (!seconds) return;
  const present = state.faces.filter((f) => f.face_present).length / seconds;
  const multiple = state.faces.some((f) => f.multiple_faces);
  const flag = (key, extra = "") => {
    const el = document.createElement("span");
    el.className = "flag";
    el.dataset.flag = key;
    el.textContent = `${t(key)}${extra}`;
    box.append(el);
  };
  flag(present < 0.8 ? "face_absent" : "face_present", ` ${Math.round(present * 100)}%`);
  if (multiple) flag("multiple_faces");
}

const EMOTION_COLOURS = { happy: "#34c759", neutral: "#8e8e93", sad: "#007aff", angry: "#ff3b30", surprise: "#ff9500", fear: "#af52de", disgust: "#a2845e" };

function renderEmotion() {
  const i = state.interviews.get(state.selected);
  const on = Boolean(i?.emotion_analysis && state.emotions.length);
  $("emotion-section").hidden = !on;
  if (!on || typeof Chart === "undefined") return;
  const labels = state.emotions.map((e) => Math.round(e.start_s));
  const classes = Object.keys(state.emotions[0].probabilities);
  const datasets = classes.map((name) => ({
    label: name, data: state.emotions.map((e) => e.probabilities[name]), borderColor: EMOTION_COLOURS[name] ?? "#333",
    backgroundColor: EMOTION_COLOURS[name] ?? "#333", pointRadius: 0, tension: 0.3, fill: false,
  }));
  if (!chart) {
    chart = new Chart($("emotion-chart"), {
      type: "line", data: { labels, datasets },
      options: { animation: false, scales: { y: { min: 0, max: 1 } }, plugins: { legend: { position: "bottom" } } },
    });
  } else {
    chart.data.labels = labels;
    chart.data.datasets = datasets;
    chart.update("none");
  }
  state.chartPoints = labels.length;
}

function renderChat() {
  const log = $("chat-log");
  log.replaceChildren();
  for (const c of state.chat) {
    const li = document.createElement("li");
    li.dataset.sender = c.sender;
    if (c.escalated && c.sender === "candidate") li.className = "escalated";
    li.textContent = `${t(c.sender)}: ${c.text}${c.escalated && c.sender === "candidate" ? ` (${t("needs_reply")})` : ""}`;
    log.append(li);
  }
}

function renderReport() {
  const r = state.report;
  $("report-section").hidden = !r;
  if (!r) return;
  $("r-decision").textContent = r.recommendation.decision;
  $("r-overall").textContent = r.recommendation.overall === null ? "–" : Math.round(r.recommendation.overall);
  $("r-reasons").replaceChildren(...r.recommendation.reasons.map((reason) => Object.assign(document.createElement("li"), { textContent: reason })));
  const body = $("r-competencies").querySelector("tbody");
  body.replaceChildren();
  for (const [name, c] of Object.entries(r.competencies)) {
    const row = document.createElement("tr");
    row.append(cell(name), cell(c.score === null ? "–" : String(Math.round(c.score))), cell(c.evidence.join(", ")));
    body.append(row);
  }
  $("r-flags").textContent = r.flags.join(" · ");
  const last = state.decisions.at(-1);
  $("decision-state").textContent = last ? `${t("decided")} ${last.decision}` : "";
}

async function decide(decision) {
  const response = await fetch(`/api/v1/interviews/${state.selected}/decisions`, {
    method: "POST",
    headers: { "X-API-Key": sessionStorage.getItem("hr.apiKey"), "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID?.() ?? `${Date.now()}-${Math.random()}` },
    body: JSON.stringify({ decision, note: "from the HR dashboard" }),
  });
  if (!response.ok) $("decision-state").textContent = `${response.status}`;
}

$("sign-in").addEventListener("click", async () => {
  try {
    await signIn($("api-key").value.trim());
    $("api-key").value = "";
    $("login-error").hidden = true;
    start();
  } catch (error) {
    $("login-error").hidden = false;
    $("login-error").textContent = error.message;
  }
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
$("chat-send").addEventListener("click", () => {
  const text = $("chat-reply").value.trim();
  if (!text || !state.selected) return;
  send({ type: "chat.reply", interview_id: state.selected, text });
  $("chat-reply").value = "";
});
document.querySelectorAll("[data-decision]").forEach((b) => b.addEventListener("click", () => decide(b.dataset.decision)));
applyLanguage();
start();
