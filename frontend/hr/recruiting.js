// A job's recruiting page in HR's workspace (#/recruiting/{job}): when candidates may book, the poster, the booked
// times, a bulk import screened by the job's rules, and HR's own calendar feed. Every label in Chinese and English.
import { el } from "/static/review/render.js";

const TEXT = {
  en: {
    recruiting: "Recruiting",
    recruiting_title: "Recruiting: {job}",
    rules: "Screening rules",
    rules_intro: "Who is invited: every rule left empty admits everyone. Candidates from the poster and imports are checked against these at once; each sees no reasons, HR see all of them.",
    min_education: "Lowest degree",
    min_years: "Fewest years of experience",
    min_match: "Lowest match with the job (0–100)",
    education_fields: "Fields of study (any one; comma separated)",
    required_skills: "Required skills (every one)",
    any_skills: "Skills (at least one)",
    locations: "Locations (any one)",
    languages: "Languages (every one)",
    knockouts: "Yes/no questions a candidate must answer",
    add_knockout: "Add a question",
    question_zh: "Question in Chinese",
    question_en: "Question in English",
    required_answer: "Required answer",
    answer_yes: "Yes",
    answer_no: "No",
    on_pass: "Candidates who pass",
    on_pass_invite: "are invited at once",
    on_pass_queue: "wait for HR's approval",
    save_rules: "Save rules",
    any_degree: "Any",
    degree_high_school: "High school",
    degree_associate: "Associate (大专)",
    degree_bachelor: "Bachelor's",
    degree_master: "Master's",
    degree_doctorate: "Doctorate",
    availability: "When candidates can book",
    no_availability: "Candidates cannot book a time for this job yet. Set the hours below and save.",
    offered: "{count} times are open for booking now.",
    timezone: "Time zone of these hours",
    mode: "How candidates choose",
    mode_slots: "They book one of the times below",
    mode_before_deadline: "Any time before the deadline, no booking",
    weekly: "Every week",
    add_weekly: "Add weekly hours",
    days: "Days",
    from: "From",
    to: "To",
    remove: "Remove",
    windows: "Extra dates",
    add_window: "Add a date",
    window_start: "Starts",
    window_end: "Ends",
    closed_dates: "Closed on (dates, comma separated, e.g. 2027-01-01)",
    deadline: "Deadline (last moment to book or start)",
    slot_minutes: "Minutes per interview",
    min_notice_hours: "Hours' notice needed before a booking",
    days_ahead: "Days ahead that are offered",
    max_concurrent: "Interviews of this job at once (empty: no limit of its own)",
    change_until_hours: "Candidates may change or cancel until (hours before)",
    max_changes: "How often a booking may be changed",
    reminder_hours: "Reminders, hours before (comma separated)",
    reinvite_no_show: "Invite a candidate who missed their time once more, automatically",
    attendees: "HR colleagues who get each booking in their calendar",
    add_attendee: "Add a colleague",
    attendee_email: "E-mail",
    attendee_name: "Name",
    save: "Save hours",
    saved: "Saved.",
    save_failed: "Not saved: {why}",
    poster: "Poster",
    poster_intro: "Candidates scan its QR code to register; the job's screening rules decide at once.",
    poster_language: "Poster language",
    download_png: "Download PNG (for chats)",
    download_pdf: "Download PDF (for print)",
    poster_alt: "The job's recruiting poster with its QR code",
    poster_failed: "The poster could not be made: {why}",
    bookings: "Booked times",
    no_bookings: "Nobody has booked a time yet.",
    candidate: "Candidate",
    time: "Time",
    booking_status: "Booking",
    booked: "booked",
    cancelled: "cancelled",
    missed: "did not come",
    changed_times: "changed {count}×",
    import: "Import candidates",
    import_intro: "A CSV file from a spreadsheet (a header row: 编号/id, 姓名/name, 邮箱/email, 手机/phone, 学历/education, 工作年限/years_experience, 技能/skills, …) or a JSON file. Either all rows are imported or none.",
    import_file: "File (CSV or JSON)",
    import_button: "Import and screen",
    importing: "Importing…",
    imported: "{count} candidates imported ({created} new, {updated} updated).",
    import_rejected: "Nothing was imported: {count} rows need correcting.",
    row_error: "Row {row}{column}: {reason}",
    column: ", column {column}",
    row: "Row",
    outcome: "Outcome",
    outcome_invited: "invited",
    outcome_queued: "passed: invite when ready",
    outcome_not_selected: "not selected",
    outcome_waiting_for_answers: "waits for answers to the knock-out questions",
    outcome_already_invited: "already invited",
    failed_rules: "Rules not met: {rules}",
    rule_min_education: "education",
    rule_education_fields: "field of study",
    rule_min_years_experience: "years of experience",
    rule_required_skills: "required skills",
    rule_any_skills: "skills",
    rule_locations: "location",
    rule_languages: "languages",
    rule_min_match_score: "match with the job",
    queue: "Waiting for your approval",
    queue_empty: "Nobody is waiting: candidates the rules pass are invited at once, or none has applied yet.",
    queue_intro: "These candidates passed the job's screening rules. Invite them, or decline.",
    invite: "Invite",
    decline: "Decline",
    invite_named: "Invite {name}",
    decline_named: "Decline {name}",
    invited_ok: "{name} is invited: the HR system sends the link.",
    declined_ok: "{name} is declined.",
    action_failed: "That did not work: {why}",
    from_poster: "registered from the poster",
    from_import: "imported",
    applied_on: "{source}, {date}",
    rules_met: "Met: {rules}",
    feed: "My interview calendar",
    feed_intro: "A private link your calendar app (Outlook, Google, Apple, 飞书, 钉钉) subscribes to: every booked interview of the jobs that list your e-mail above. Asking again gives a new link and stops the old one.",
    feed_email: "Your e-mail",
    feed_button: "Get my calendar link",
    feed_ready: "Subscribe to this link in your calendar app (keep it private):",
    load_failed: "Could not load: {why}",
    weekdays: "Mon,Tue,Wed,Thu,Fri,Sat,Sun",
  },
  zh: {
    recruiting: "招聘安排",
    recruiting_title: "招聘安排：{job}",
    rules: "筛选规则",
    rules_intro: "谁会被邀请：留空的规则对所有人都算通过。通过海报报名和导入的候选人会立即按这些规则核对；候选人看不到原因，HR 可以看到全部原因。",
    min_education: "最低学历",
    min_years: "最少工作年限",
    min_match: "与岗位的最低匹配度（0–100）",
    education_fields: "专业（任一即可，用逗号分隔）",
    required_skills: "必备技能（全部需要）",
    any_skills: "技能（至少一项）",
    locations: "所在地（任一即可）",
    languages: "语言（全部需要）",
    knockouts: "候选人必须回答的是否问题",
    add_knockout: "添加问题",
    question_zh: "问题（中文）",
    question_en: "问题（英文）",
    required_answer: "要求的回答",
    answer_yes: "是",
    answer_no: "否",
    on_pass: "通过规则的候选人",
    on_pass_invite: "立即邀请",
    on_pass_queue: "等待 HR 批准",
    save_rules: "保存规则",
    any_degree: "不限",
    degree_high_school: "高中 / 中专",
    degree_associate: "大专",
    degree_bachelor: "本科",
    degree_master: "硕士",
    degree_doctorate: "博士",
    availability: "候选人可预约的时间",
    no_availability: "这个岗位还不能预约面试时间。请在下面设置时间并保存。",
    offered: "目前有 {count} 个时间可以预约。",
    timezone: "以下时间所在的时区",
    mode: "候选人如何选择时间",
    mode_slots: "从下面的时间中预约一个",
    mode_before_deadline: "截止时间前随时参加，无需预约",
    weekly: "每周",
    add_weekly: "添加每周时间",
    days: "星期",
    from: "从",
    to: "到",
    remove: "删除",
    windows: "额外日期",
    add_window: "添加日期",
    window_start: "开始",
    window_end: "结束",
    closed_dates: "不安排面试的日期（用逗号分隔，例如 2027-01-01）",
    deadline: "截止时间（最晚预约或开始的时间）",
    slot_minutes: "每场面试分钟数",
    min_notice_hours: "至少提前几小时预约",
    days_ahead: "开放未来几天的时间",
    max_concurrent: "本岗位同时进行的面试数（留空：不单独限制）",
    change_until_hours: "候选人最晚可在面试前几小时改期或取消",
    max_changes: "一个预约最多可改期几次",
    reminder_hours: "提醒时间，面试前几小时（用逗号分隔）",
    reinvite_no_show: "候选人错过预约时间时，自动再邀请一次",
    attendees: "把每个预约加入日历的 HR 同事",
    add_attendee: "添加同事",
    attendee_email: "邮箱",
    attendee_name: "姓名",
    save: "保存时间",
    saved: "已保存。",
    save_failed: "没有保存：{why}",
    poster: "招聘海报",
    poster_intro: "候选人扫描海报上的二维码报名，岗位的筛选规则会立即给出结果。",
    poster_language: "海报语言",
    download_png: "下载 PNG（用于聊天）",
    download_pdf: "下载 PDF（用于打印）",
    poster_alt: "带二维码的岗位招聘海报",
    poster_failed: "海报没能生成：{why}",
    bookings: "已预约的时间",
    no_bookings: "还没有人预约时间。",
    candidate: "候选人",
    time: "时间",
    booking_status: "预约",
    booked: "已预约",
    cancelled: "已取消",
    missed: "未到场",
    changed_times: "改期 {count} 次",
    import: "导入候选人",
    import_intro: "表格导出的 CSV 文件（第一行为列名：编号、姓名、邮箱、手机、学历、工作年限、技能……）或 JSON 文件。要么全部导入，要么一条也不导入。",
    import_file: "文件（CSV 或 JSON）",
    import_button: "导入并筛选",
    importing: "正在导入…",
    imported: "已导入 {count} 位候选人（新增 {created} 位，更新 {updated} 位）。",
    import_rejected: "没有导入任何数据：有 {count} 行需要修改。",
    row_error: "第 {row} 行{column}：{reason}",
    column: "，“{column}”列",
    row: "行",
    outcome: "结果",
    outcome_invited: "已邀请",
    outcome_queued: "通过，待邀请",
    outcome_not_selected: "未入选",
    outcome_waiting_for_answers: "需先回答必答问题",
    outcome_already_invited: "此前已邀请",
    failed_rules: "未满足：{rules}",
    rule_min_education: "学历",
    rule_education_fields: "专业",
    rule_min_years_experience: "工作年限",
    rule_required_skills: "必备技能",
    rule_any_skills: "技能",
    rule_locations: "所在地",
    rule_languages: "语言",
    rule_min_match_score: "与岗位的匹配度",
    queue: "等待您批准",
    queue_empty: "没有等待批准的候选人：通过规则的候选人会被立即邀请，或还没有人报名。",
    queue_intro: "这些候选人通过了岗位的筛选规则。请邀请或婉拒。",
    invite: "邀请",
    decline: "婉拒",
    invite_named: "邀请{name}",
    decline_named: "婉拒{name}",
    invited_ok: "已邀请{name}：招聘系统会发送面试链接。",
    declined_ok: "已婉拒{name}。",
    action_failed: "操作没有成功：{why}",
    from_poster: "通过海报报名",
    from_import: "导入",
    applied_on: "{source}，{date}",
    rules_met: "满足：{rules}",
    feed: "我的面试日历",
    feed_intro: "一个私人链接，可在日历应用（Outlook、Google、Apple、飞书、钉钉）中订阅：列出上面填写了您邮箱的岗位的所有面试。重新获取会生成新链接，旧链接随即失效。",
    feed_email: "您的邮箱",
    feed_button: "获取我的日历链接",
    feed_ready: "请在日历应用中订阅这个链接（请勿外传）：",
    load_failed: "没能加载：{why}",
    weekdays: "周一,周二,周三,周四,周五,周六,周日",
  },
};
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const $ = (id) => document.getElementById(id);

let lang = "zh";
let call = null; // the workspace's API call: (path, options) -> parsed JSON, throws Error(detail)
let key = null; // the API key, for downloads and uploads the workspace's call does not make
let view = { jobId: null, jobTitle: "", availability: null, bookings: [], queue: [] };
let rowCounter = 0;

const t = (name, values = {}) => (TEXT[lang][name] ?? TEXT.en[name] ?? name).replace(/\{(\w+)\}/g, (_, k) => String(values[k] ?? ""));

export function setup(options) {
  call = options.api;
  key = options.key;
  $("r-add-weekly").addEventListener("click", () => addWeekly());
  $("r-add-window").addEventListener("click", () => addWindow());
  $("r-add-attendee").addEventListener("click", () => addAttendee());
  $("r-form").addEventListener("submit", save);
  $("r-png").addEventListener("click", () => download("png"));
  $("r-pdf").addEventListener("click", () => download("pdf"));
  $("r-poster-language").addEventListener("change", preview);
  $("r-import-form").addEventListener("submit", importFile);
  $("r-feed-form").addEventListener("submit", feed);
  $("r-add-knockout").addEventListener("click", () => addKnockout());
  $("r-rules-form").addEventListener("submit", saveRules);
}

export function applyLanguage(language) {
  lang = language;
  document.querySelectorAll("[data-r]").forEach((node) => (node.textContent = t(node.dataset.r)));
  document.querySelectorAll("#r-weekly .day-label").forEach((node) => (node.textContent = dayName(node.dataset.day)));
  document.querySelectorAll("#recruiting-view [data-r-label]").forEach((node) => (node.textContent = t(node.dataset.rLabel)));
  fillDegrees();
  if (view.jobId) {
    $("r-title").textContent = t("recruiting_title", { job: view.jobTitle });
    $("r-poster").alt = t("poster_alt");
    renderSummary();
    renderBookings();
    renderQueue();
  }
}

const dayName = (day) => t("weekdays").split(",")[DAYS.indexOf(day)];

export async function open(jobId, jobTitle) {
  view = { jobId, jobTitle: jobTitle || jobId, availability: null, bookings: [], queue: [] };
  $("r-title").textContent = t("recruiting_title", { job: view.jobTitle });
  $("r-title").tabIndex = -1;
  for (const id of ["r-saved", "r-import-result", "r-feed-result", "r-queue-result", "r-rules-saved"]) $(id).replaceChildren();
  try {
    fillRules((await call(`/api/v1/jobs/${encodeURIComponent(jobId)}`)).screening);
  } catch (error) {
    $("r-rules-saved").replaceChildren(el("p", { class: "error", text: t("load_failed", { why: error.message }) }));
  }
  try {
    view.availability = await call(`/api/v1/jobs/${encodeURIComponent(jobId)}/availability`);
  } catch {
    view.availability = null; // 404: none yet
  }
  fillForm(view.availability);
  renderSummary();
  loadBookings();
  loadQueue();
  preview();
  $("r-title").focus();
}

// ---- screening rules -------------------------------------------------------------------------------------------------
const DEGREES = ["", "high_school", "associate", "bachelor", "master", "doctorate"];
const commaList = (text) => text.split(/[,，、;；]/).map((item) => item.trim()).filter(Boolean);

function fillDegrees() {
  const select = $("r-min_education");
  const chosen = select.value;
  select.replaceChildren(...DEGREES.map((value) => el("option", { value, text: t(value ? `degree_${value}` : "any_degree") })));
  select.value = chosen;
}

function addKnockout(question = { id: "", text: {}, required_answer: true }) {
  const answer = el("select", { class: "answer" }, el("option", { value: "yes", "data-r": "answer_yes", text: t("answer_yes") }), el("option", { value: "no", "data-r": "answer_no", text: t("answer_no") }));
  answer.value = question.required_answer ? "yes" : "no";
  const row = el("div", { class: "row knockout", "data-question": question.id },
    labelled("question_zh", el("input", { class: "zh", value: question.text.zh ?? "", maxlength: "300", autocomplete: "off" })),
    labelled("question_en", el("input", { class: "en", value: question.text.en ?? "", maxlength: "300", autocomplete: "off", lang: "en" })),
    labelled("required_answer", answer));
  row.append(removeButton(row));
  $("r-knockouts").append(row);
}

function fillRules(rules) {
  const r = rules ?? {};
  fillDegrees();
  $("r-min_education").value = r.min_education ?? "";
  $("r-min_years").value = r.min_years_experience ?? "";
  $("r-min_match").value = r.min_match_score ?? "";
  for (const [id, key] of [["r-education_fields", "education_fields"], ["r-required_skills", "required_skills"], ["r-any_skills", "any_skills"], ["r-locations", "locations"], ["r-languages", "languages"]]) {
    $(id).value = (r[key] ?? []).join(lang === "zh" ? "、" : ", ");
  }
  $("r-knockouts").replaceChildren();
  (r.knockout_questions ?? []).forEach(addKnockout);
  document.querySelector(`input[name="r-on-pass"][value="${r.on_pass ?? "queue_for_hr"}"]`).checked = true;
}

function rulesValue() {
  const number = (id) => ($(id).value === "" ? null : Number($(id).value));
  const used = new Set();
  const questions = [...document.querySelectorAll("#r-knockouts .knockout")].map((row, index) => {
    let id = row.dataset.question || `q${index + 1}`;
    while (used.has(id)) id = `${id}-${index + 1}`;
    used.add(id);
    const text = {};
    for (const language of ["zh", "en"]) if (row.querySelector(`.${language}`).value.trim()) text[language] = row.querySelector(`.${language}`).value.trim();
    return { id, text, required_answer: row.querySelector(".answer").value === "yes" };
  });
  return {
    min_education: $("r-min_education").value || null,
    education_fields: commaList($("r-education_fields").value),
    min_years_experience: number("r-min_years"),
    required_skills: commaList($("r-required_skills").value),
    any_skills: commaList($("r-any_skills").value),
    locations: commaList($("r-locations").value),
    languages: commaList($("r-languages").value),
    min_match_score: number("r-min_match"),
    knockout_questions: questions,
    on_pass: document.querySelector('input[name="r-on-pass"]:checked').value,
  };
}

async function saveRules(event) {
  event.preventDefault();
  const out = $("r-rules-saved");
  const result = await send(`/api/v1/jobs/${encodeURIComponent(view.jobId)}/screening`, {
    method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify(rulesValue()),
  });
  if (!result.ok) {
    const errors = (result.body?.errors ?? []).map((e) => el("li", { text: `${e.loc.join(" › ")}: ${e.msg}` }));
    out.replaceChildren(el("p", { class: "error", text: t("save_failed", { why: result.body?.detail ?? String(result.status) }) }), el("ul", { class: "error" }, ...errors));
    return;
  }
  fillRules(result.body);
  out.replaceChildren(el("p", { class: "ok", text: t("saved") }));
}

// ---- availability ------------------------------------------------------------------------------------------------
function renderSummary() {
  const a = view.availability;
  $("r-summary").textContent = a ? t("offered", { count: a.offered_slots }) : t("no_availability");
}

function labelled(labelKey, input) {
  const id = `r-field-${++rowCounter}`;
  input.id = id;
  return el("div", { class: "field" }, el("label", { for: id, "data-r-label": labelKey, text: t(labelKey) }), input);
}

function removeButton(row) {
  const button = el("button", { type: "button", class: "secondary small", "data-r": "remove", text: t("remove") });
  button.addEventListener("click", () => row.remove());
  return button;
}

function addWeekly(hours = { days: ["mon", "tue", "wed", "thu", "fri"], start: "09:00", end: "12:00" }) {
  const group = `r-days-${++rowCounter}`;
  const days = el("fieldset", { class: "days" }, el("legend", { "data-r-label": "days", text: t("days") }));
  for (const day of DAYS) {
    const box = el("input", { type: "checkbox", name: group, value: day });
    box.checked = hours.days.includes(day);
    days.append(el("label", { class: "choice" }, box, el("span", { class: "day-label", "data-day": day, text: dayName(day) })));
  }
  const row = el("div", { class: "row weekly" }, days,
    labelled("from", el("input", { type: "time", class: "start", value: hours.start.slice(0, 5), required: "" })),
    labelled("to", el("input", { type: "time", class: "end", value: hours.end.slice(0, 5), required: "" })));
  row.append(removeButton(row));
  $("r-weekly").append(row);
}

function addWindow(window = { start: "", end: "" }) {
  const row = el("div", { class: "row window" },
    labelled("window_start", el("input", { type: "datetime-local", class: "start", value: window.start.slice(0, 16), required: "" })),
    labelled("window_end", el("input", { type: "datetime-local", class: "end", value: window.end.slice(0, 16), required: "" })));
  row.append(removeButton(row));
  $("r-windows").append(row);
}

function addAttendee(person = { email: "", name: "" }) {
  const row = el("div", { class: "row attendee" },
    labelled("attendee_email", el("input", { type: "email", class: "email", value: person.email, maxlength: "320", required: "", autocomplete: "off" })),
    labelled("attendee_name", el("input", { class: "name", value: person.name, maxlength: "200", required: "" })));
  row.append(removeButton(row));
  $("r-attendees").append(row);
}

function fillForm(a) {
  const values = a ?? { timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || "Asia/Shanghai", mode: "slots", weekly: [{ days: ["mon", "tue", "wed", "thu", "fri"], start: "09:00", end: "12:00" }], windows: [], closed_dates: [], deadline: null, slot_minutes: 30, min_notice_hours: 2, days_ahead: 14, max_concurrent: null, change_until_hours: 2, max_changes: 3, reminder_hours: [24, 1], reinvite_no_show: false, calendar_attendees: [] };
  $("r-timezone").value = values.timezone;
  document.querySelector(`input[name="r-mode"][value="${values.mode}"]`).checked = true;
  $("r-weekly").replaceChildren();
  values.weekly.forEach(addWeekly);
  $("r-windows").replaceChildren();
  values.windows.forEach(addWindow);
  $("r-closed").value = values.closed_dates.join(", ");
  $("r-deadline").value = values.deadline ? values.deadline.slice(0, 16) : "";
  for (const name of ["slot_minutes", "min_notice_hours", "days_ahead", "change_until_hours", "max_changes"]) $(`r-${name}`).value = values[name];
  $("r-max_concurrent").value = values.max_concurrent ?? "";
  $("r-reminder_hours").value = values.reminder_hours.join(", ");
  $("r-reinvite").checked = values.reinvite_no_show;
  $("r-attendees").replaceChildren();
  values.calendar_attendees.forEach(addAttendee);
}

function formValue() {
  const rows = (selector) => [...document.querySelectorAll(selector)];
  const number = (id) => Number($(id).value);
  const list = (text) => text.split(/[,，\s]+/).filter(Boolean);
  return {
    timezone: $("r-timezone").value.trim(),
    mode: document.querySelector('input[name="r-mode"]:checked').value,
    weekly: rows("#r-weekly .weekly").map((row) => ({
      days: [...row.querySelectorAll("input[type=checkbox]:checked")].map((box) => box.value),
      start: row.querySelector(".start").value,
      end: row.querySelector(".end").value,
    })),
    windows: rows("#r-windows .window").map((row) => ({ start: row.querySelector(".start").value, end: row.querySelector(".end").value })),
    closed_dates: list($("r-closed").value),
    deadline: $("r-deadline").value || null,
    slot_minutes: number("r-slot_minutes"),
    min_notice_hours: number("r-min_notice_hours"),
    days_ahead: number("r-days_ahead"),
    max_concurrent: $("r-max_concurrent").value ? number("r-max_concurrent") : null,
    change_until_hours: number("r-change_until_hours"),
    max_changes: number("r-max_changes"),
    reminder_hours: list($("r-reminder_hours").value).map(Number),
    reinvite_no_show: $("r-reinvite").checked,
    calendar_attendees: rows("#r-attendees .attendee").map((row) => ({ email: row.querySelector(".email").value.trim(), name: row.querySelector(".name").value.trim() })),
  };
}

async function send(path, init) {
  const response = await fetch(path, { ...init, headers: { "X-API-Key": key(), ...init.headers }, cache: "no-store" });
  const body = await response.json().catch(() => null);
  return { ok: response.ok, status: response.status, body };
}

async function save(event) {
  event.preventDefault();
  const out = $("r-saved");
  const result = await send(`/api/v1/jobs/${encodeURIComponent(view.jobId)}/availability`, {
    method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify(formValue()),
  });
  if (!result.ok) {
    const why = result.body?.detail ?? String(result.status);
    const errors = (result.body?.errors ?? []).map((e) => el("li", { text: `${e.loc.join(" › ")}: ${e.msg}` }));
    out.replaceChildren(el("p", { class: "error", text: t("save_failed", { why }) }), el("ul", { class: "error" }, ...errors));
    return;
  }
  view.availability = result.body;
  renderSummary();
  out.replaceChildren(el("p", { class: "ok", text: t("saved") }));
}

// ---- poster ------------------------------------------------------------------------------------------------------
async function posterBlob(format) {
  const params = new URLSearchParams({ format, language: $("r-poster-language").value });
  const response = await fetch(`/api/v1/jobs/${encodeURIComponent(view.jobId)}/poster?${params}`, { headers: { "X-API-Key": key() } });
  if (!response.ok) throw new Error((await response.json().catch(() => null))?.detail ?? String(response.status));
  return response.blob();
}

async function preview() {
  if (!view.jobId) return;
  try {
    const blob = await posterBlob("png");
    const image = $("r-poster");
    if (image.src.startsWith("blob:")) URL.revokeObjectURL(image.src);
    image.src = URL.createObjectURL(blob);
    image.alt = t("poster_alt");
    image.hidden = false;
    $("r-poster-error").textContent = "";
  } catch (error) {
    $("r-poster").hidden = true;
    $("r-poster-error").textContent = t("poster_failed", { why: error.message });
  }
}

async function download(format) {
  try {
    const url = URL.createObjectURL(await posterBlob(format));
    const link = el("a", { href: url, download: `poster-${view.jobId}.${format}` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (error) {
    $("r-poster-error").textContent = t("poster_failed", { why: error.message });
  }
}

// ---- booked times ------------------------------------------------------------------------------------------------
async function loadBookings() {
  try {
    view.bookings = (await call(`/api/v1/jobs/${encodeURIComponent(view.jobId)}/bookings`)).bookings;
  } catch (error) {
    $("r-bookings").replaceChildren(el("p", { class: "error", text: t("load_failed", { why: error.message }) }));
    return;
  }
  renderBookings();
}

function renderBookings() {
  const when = (iso) => new Date(iso).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { dateStyle: "medium", timeStyle: "short" });
  if (!view.bookings.length) {
    $("r-bookings").replaceChildren(el("p", { class: "muted", text: t("no_bookings") }));
    return;
  }
  const rows = view.bookings.map((b) => el("tr", {},
    el("th", { scope: "row" }, el("a", { href: `#/interview/${encodeURIComponent(b.interview_id)}`, text: b.candidate_name })),
    el("td", { text: when(b.starts_at) }),
    el("td", { text: [t(b.status), b.changes ? t("changed_times", { count: b.changes }) : ""].filter(Boolean).join(" · ") })));
  $("r-bookings").replaceChildren(el("div", { class: "table-wrap" }, el("table", {},
    el("caption", { class: "visually-hidden", text: t("bookings") }),
    el("thead", {}, el("tr", {}, ...["candidate", "time", "booking_status"].map((k) => el("th", { scope: "col", text: t(k) })))),
    el("tbody", {}, ...rows))));
}

// ---- import ------------------------------------------------------------------------------------------------------
async function importFile(event) {
  event.preventDefault();
  const file = $("r-import-file").files[0];
  const out = $("r-import-result");
  if (!file) return;
  out.replaceChildren(el("p", { text: t("importing") }));
  const type = file.name.toLowerCase().endsWith(".json") ? "application/json" : "text/csv";
  const withJob = view.jobId ? `?job_id=${encodeURIComponent(view.jobId)}` : "";
  let result = await send(`/api/v1/imports/candidates${withJob}`, { method: "POST", headers: { "Content-Type": type }, body: await file.arrayBuffer() });
  if (result.status === 409 && result.body?.code === "no_screening_rules") {
    result = await send("/api/v1/imports/candidates", { method: "POST", headers: { "Content-Type": type }, body: await file.arrayBuffer() });
  }
  if (!result.ok) {
    const errors = result.body?.errors ?? [];
    const count = result.body?.error_count ?? errors.length;
    const items = errors.map((e) => el("li", { text: t("row_error", { row: e.row, column: e.column ? t("column", { column: e.column }) : "", reason: e.reason }) }));
    out.replaceChildren(el("p", { class: "error", role: "alert", text: count ? t("import_rejected", { count }) : result.body?.detail ?? String(result.status) }), el("ul", { class: "error" }, ...items));
    return;
  }
  const body = result.body;
  const parts = [el("p", { class: "ok", role: "status", text: t("imported", { count: body.imported, created: body.created, updated: body.updated }) })];
  if (body.screening) {
    const rows = body.screening.map((s) => {
      const failed = s.rules.filter((r) => r.outcome === "failed").map((r) => t(`rule_${r.rule.split(":")[0]}`));
      const words = [t(`outcome_${s.outcome}`), failed.length ? t("failed_rules", { rules: failed.join(lang === "zh" ? "、" : ", ") }) : ""].filter(Boolean).join(" · ");
      return el("tr", {}, el("td", { text: String(s.row) }), el("th", { scope: "row", text: s.name }), el("td", { text: words }));
    });
    parts.push(el("div", { class: "table-wrap" }, el("table", {},
      el("caption", { class: "visually-hidden", text: t("import") }),
      el("thead", {}, el("tr", {}, ...["row", "candidate", "outcome"].map((k) => el("th", { scope: "col", text: t(k) })))),
      el("tbody", {}, ...rows))));
  }
  out.replaceChildren(...parts);
  loadBookings();
  loadQueue();
}

// ---- the approval queue --------------------------------------------------------------------------------------------
async function loadQueue() {
  try {
    view.queue = (await call(`/api/v1/jobs/${encodeURIComponent(view.jobId)}/applications?status=queued`)).applications;
  } catch (error) {
    $("r-queue").replaceChildren(el("p", { class: "error", text: t("load_failed", { why: error.message }) }));
    return;
  }
  renderQueue();
}

function renderQueue() {
  if (!view.queue.length) {
    $("r-queue").replaceChildren(el("p", { class: "muted", text: t("queue_empty") }));
    return;
  }
  const date = (epoch) => new Date(epoch * 1000).toLocaleDateString(lang === "zh" ? "zh-CN" : "en-GB", { dateStyle: "medium" });
  const items = view.queue.map((a) => {
    const met = a.rules.filter((r) => r.outcome === "passed").map((r) => t(`rule_${r.rule.split(":")[0]}`));
    const invite = el("button", { type: "button", class: "small", "aria-label": t("invite_named", { name: a.name }), text: t("invite") });
    const decline = el("button", { type: "button", class: "secondary small", "aria-label": t("decline_named", { name: a.name }), text: t("decline") });
    invite.addEventListener("click", () => decide(a, "invite"));
    decline.addEventListener("click", () => decide(a, "decline"));
    return el("li", { "data-candidate": a.candidate_id },
      el("p", {}, el("strong", { text: a.name }), ` · ${t("applied_on", { source: t(a.source === "poster" ? "from_poster" : "from_import"), date: date(a.created_at) })}`),
      met.length ? el("p", { class: "muted", text: t("rules_met", { rules: met.join(lang === "zh" ? "、" : ", ") }) }) : null,
      el("div", { class: "actions" }, invite, decline));
  });
  $("r-queue").replaceChildren(el("p", { class: "muted", text: t("queue_intro") }), el("ul", { class: "queue" }, ...items));
}

async function decide(application, action) {
  const path = `/api/v1/jobs/${encodeURIComponent(view.jobId)}/applications/${encodeURIComponent(application.candidate_id)}/${action}`;
  const result = await send(path, { method: "POST", headers: { "X-Reviewer": encodeURIComponent(sessionStorage.getItem("hr.reviewer") ?? "") } });
  const out = $("r-queue-result");
  if (!result.ok) {
    out.replaceChildren(el("p", { class: "error", text: t("action_failed", { why: result.body?.detail ?? String(result.status) }) }));
    return;
  }
  out.replaceChildren(el("p", { class: "ok", text: t(action === "invite" ? "invited_ok" : "declined_ok", { name: application.name }) }));
  view.queue = view.queue.filter((a) => a.candidate_id !== application.candidate_id);
  renderQueue();
  $("r-queue-title").focus();
}

// ---- HR's own calendar feed --------------------------------------------------------------------------------------
async function feed(event) {
  event.preventDefault();
  const out = $("r-feed-result");
  const result = await send("/api/v1/calendar-feeds", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ email: $("r-feed-email").value.trim() }) });
  if (!result.ok) {
    out.replaceChildren(el("p", { class: "error", role: "alert", text: result.body?.detail ?? String(result.status) }));
    return;
  }
  const link = el("input", { id: "r-feed-url", readonly: "", value: result.body.webcal_url, "aria-label": t("feed_ready") });
  out.replaceChildren(el("p", { class: "ok", text: t("feed_ready") }), link);
  link.select();
}
