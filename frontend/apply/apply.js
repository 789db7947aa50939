// The registration page a recruiting poster's QR code opens: name and a way to be reached, optionally the résumé as
// text, the job's yes/no questions, consent; then the interview's booking page, or a word on what happens next.

const TEXT = {
  en: {
    title: "Apply",
    job: "{job}",
    job_company: "{job} at {company}",
    loading: "Loading…",
    load_failed: "The page could not be loaded. Check the connection and reload.",
    closed: "This job's link has expired or the job is no longer open.",
    intro: "Tell us how to reach you. A short video interview follows, from this phone, no app needed.",
    name: "Your name",
    email: "E-mail",
    phone: "Mobile number",
    phone_hint: "With the country code, e.g. +86 138 0013 8000. Give an e-mail address, a mobile number, or both.",
    resume: "Your résumé (optional)",
    resume_hint: "Paste the text of your résumé: experience, education, skills.",
    resume_file: "Or upload your résumé as a PDF (optional)",
    resume_file_hint: "At most 600 KB. Its text is read; a scanned image cannot be.",
    resume_too_large: "The PDF is larger than 600 KB. Paste its text instead.",
    unreadable_resume: "Your PDF could not be read. Paste the text of your résumé instead.",
    about: "About you (optional)",
    about_hint: "The job's requirements are checked against what you give here.",
    education: "Highest degree",
    degree_none: "—",
    degree_high_school: "High school",
    degree_associate: "Associate degree (大专)",
    degree_bachelor: "Bachelor's degree",
    degree_master: "Master's degree",
    degree_doctorate: "Doctorate",
    education_field: "Field of study",
    years: "Years of work experience",
    skills: "Skills",
    skills_hint: "Separate them with commas, e.g. Python, SQL, Excel.",
    location: "City",
    wechat_login: "Fill in with my WeChat profile",
    wechat_as: "Applying as {name} in WeChat.",
    yes: "Yes",
    no: "No",
    consent: "I agree that the company stores what I send here and uses it to consider me for this job.",
    submit: "Apply",
    sending: "Sending…",
    need_name: "Please give your name.",
    need_contact: "Please give an e-mail address or a mobile number.",
    bad_phone: "Please give the mobile number with its country code, e.g. +8613800138000.",
    need_answers: "Please answer every question.",
    need_consent: "Please agree to the processing to apply.",
    too_many: "Too many applications from here just now. Please try again in a minute.",
    failed: "That did not work. Please try again.",
    invited_title: "Thank you. Choose a time for your interview",
    invited_text: "Your application is in. Next, pick a time for the video interview.",
    invited_next: "Choose a time",
    queued_title: "Thank you for applying",
    queued_text: "The company will look at your application and contact you.",
    not_selected_title: "Thank you for applying",
    not_selected_text: "This job's requirements do not match what you told us, so we cannot invite you to an interview for it this time.",
    switch: "中文",
  },
  zh: {
    title: "报名",
    job: "{job}",
    job_company: "{company} · {job}",
    loading: "加载中…",
    load_failed: "页面没能加载。请检查网络后刷新。",
    closed: "这个报名链接已失效，或职位已不再招聘。",
    intro: "请留下联系方式。之后用这部手机就能参加视频面试，无需安装应用。",
    name: "姓名",
    email: "邮箱",
    phone: "手机号",
    phone_hint: "请带国家代码，例如 +86 138 0013 8000。邮箱和手机号至少填一个。",
    resume: "简历（可选）",
    resume_hint: "可以粘贴简历的文字：工作经历、教育背景、技能。",
    resume_file: "或上传 PDF 格式的简历（可选）",
    resume_file_hint: "不超过 600 KB。系统会读取其中的文字；扫描的图片无法读取。",
    resume_too_large: "PDF 超过 600 KB。请改为粘贴简历文字。",
    unreadable_resume: "没能读取您的 PDF。请改为粘贴简历文字。",
    about: "关于您（可选）",
    about_hint: "岗位的要求会根据您在这里填写的信息核对。",
    education: "最高学历",
    degree_none: "—",
    degree_high_school: "高中 / 中专",
    degree_associate: "大专",
    degree_bachelor: "本科",
    degree_master: "硕士",
    degree_doctorate: "博士",
    education_field: "专业",
    years: "工作年限",
    skills: "技能",
    skills_hint: "用逗号分隔，例如 Python、SQL、Excel。",
    location: "所在城市",
    wechat_login: "用我的微信资料填写",
    wechat_as: "您正以微信用户“{name}”的身份报名。",
    yes: "是",
    no: "否",
    consent: "我同意公司保存我在这里提交的信息，并用于评估我是否适合这个职位。",
    submit: "提交报名",
    sending: "正在提交…",
    need_name: "请填写姓名。",
    need_contact: "请填写邮箱或手机号。",
    bad_phone: "请填写带国家代码的手机号，例如 +8613800138000。",
    need_answers: "请回答每一个问题。",
    need_consent: "请先同意信息处理说明。",
    too_many: "这里刚才提交的报名太多了，请一分钟后再试。",
    failed: "提交没有成功，请再试一次。",
    invited_title: "谢谢！请选择面试时间",
    invited_text: "报名已收到。下一步，请为视频面试选择一个时间。",
    invited_next: "选择时间",
    queued_title: "感谢报名",
    queued_text: "公司会查看您的报名，并与您联系。",
    not_selected_title: "感谢报名",
    not_selected_text: "根据您填写的信息，这次暂时不能邀请您参加这个职位的面试。",
    switch: "English",
  },
};

const $ = (id) => document.getElementById(id);
const token = decodeURIComponent(location.pathname.split("/").pop());
const api = `/api/v1/applications/${encodeURIComponent(token)}`;
let lang = document.documentElement.lang.startsWith("zh") ? "zh" : "en";
let job = null;

function t(key, values = {}) {
  return TEXT[lang][key].replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");
}

function say(message, kind = "") {
  $("status").textContent = message;
  $("status").className = kind;
}

function render() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  $("title").textContent = t("title");
  const other = lang === "zh" ? "en" : "zh";
  $("lang-switch").textContent = TEXT[lang].switch;  // the other language, named in itself
  $("lang-switch").lang = other === "zh" ? "zh-CN" : "en";
  $("lang-switch").hidden = false;
  for (const key of ["intro", "phone_hint", "resume_hint"]) $(key.replace("_", "-")).textContent = t(key);
  for (const key of ["name", "email", "phone", "resume", "resume_file", "consent", "education", "education_field", "years", "skills", "location"]) $(`${key}-label`).textContent = t(key);
  $("resume-file-hint").textContent = t("resume_file_hint");
  $("skills-hint").textContent = t("skills_hint");
  $("about-legend").textContent = t("about");
  $("about-hint").textContent = t("about_hint");
  const chosenDegree = $("education").value;
  $("education").replaceChildren(...["", "high_school", "associate", "bachelor", "master", "doctorate"].map((value) => Object.assign(document.createElement("option"), { value, textContent: t(`degree_${value || "none"}`) })));
  $("education").value = chosenDegree;
  $("submit").textContent = t("submit");
  if (!job) return;
  $("wechat-login").textContent = t("wechat_login");
  $("wechat-login").hidden = !job.wechat_login_url;
  if (job.wechat_login_url) $("wechat-login").href = job.wechat_login_url;
  $("wechat").hidden = !job.wechat;
  if (job.wechat) {
    $("wechat-text").textContent = t("wechat_as", { name: job.wechat.nickname });
    $("wechat-avatar").hidden = !job.wechat.avatar_url;
    if (job.wechat.avatar_url) $("wechat-avatar").src = job.wechat.avatar_url;
    if (!$("name").value) $("name").value = job.wechat.nickname;
  }
  $("job").textContent = job.company ? t("job_company", { job: job.job_title, company: job.company }) : t("job", { job: job.job_title });
  const box = $("questions");
  box.replaceChildren();
  job.questions.forEach((question, index) => {
    const fieldset = document.createElement("fieldset");
    fieldset.className = "question";
    const legend = document.createElement("legend");
    legend.textContent = question.texts[lang] || question.text;
    fieldset.append(legend);
    for (const [value, word] of [["yes", t("yes")], ["no", t("no")]]) {
      const id = `q${index}-${value}`;
      const input = Object.assign(document.createElement("input"), { type: "radio", name: `q${index}`, id, value });
      input.dataset.question = question.id;
      const label = document.createElement("label");
      label.htmlFor = id;
      label.append(input, word);
      fieldset.append(label);
    }
    box.append(fieldset);
  });
}

function answers() {
  const given = {};
  for (const question of job.questions) {
    const chosen = document.querySelector(`input[data-question="${CSS.escape(question.id)}"]:checked`);
    if (!chosen) return null;
    given[question.id] = chosen.value === "yes";
  }
  return given;
}

const MAX_PDF_BYTES = 600 * 1024;

// The chosen PDF as base64, or null; the server reads its text.
async function resumePdf() {
  const file = $("resume-file").files[0];
  if (!file) return null;
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

async function submit(event) {
  event.preventDefault();
  const name = $("name").value.trim();
  const email = $("email").value.trim();
  const phone = $("phone").value.replace(/[\s-]/g, "");
  const given = answers();
  const pdf = $("resume-file").files[0];
  const problem = pdf && pdf.size > MAX_PDF_BYTES ? "resume_too_large" : !name ? "need_name" : !email && !phone ? "need_contact" : phone && !/^\+[1-9][0-9]{7,14}$/.test(phone) ? "bad_phone" : given === null ? "need_answers" : !$("consent").checked ? "need_consent" : null;
  if (problem) {
    $("form-error").textContent = t(problem);
    return;
  }
  $("form-error").textContent = "";
  $("submit").disabled = true;
  say(t("sending"));
  try {
    const years = $("years").value;
    const body = {
      name, email: email || null, phone: phone || null, resume_text: $("resume").value, answers: given, consent: true,
      education: $("education").value || null, education_field: $("education-field").value.trim() || null,
      years_experience: years === "" ? null : Number(years), location: $("location").value.trim() || null,
      skills: $("skills").value.split(/[,，、;；]/).map((skill) => skill.trim()).filter(Boolean).slice(0, 30),
      resume_pdf: await resumePdf(),
    };
    const response = await fetch(api, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const known = { resume_too_large: "resume_too_large", unreadable_resume: "unreadable_resume" }[data.code];
      $("form-error").textContent = t(known ?? (response.status === 429 ? "too_many" : "failed"));
      say("");
      return;
    }
    $("form-section").hidden = true;
    $("done-title").textContent = t(`${data.outcome}_title`);
    $("done-text").textContent = t(`${data.outcome}_text`);
    if (data.invite_url) {
      $("next").href = data.invite_url;
      $("next").textContent = t("invited_next");
      $("next").hidden = false;
    }
    $("done").hidden = false;
    say("");
    $("done").focus();
  } catch {
    $("form-error").textContent = t("failed");
    say("");
  } finally {
    $("submit").disabled = false;
  }
}

async function load() {
  render();
  say(t("loading"));
  try {
    const response = await fetch(api);
    if (!response.ok) {
      say(t(response.status === 404 || response.status === 410 ? "closed" : "load_failed"), "error");
      return;
    }
    job = await response.json();
    lang = job.language === "zh" ? "zh" : "en";
    render();
    $("form-section").hidden = false;
    say("");
  } catch {
    say(t("load_failed"), "error");
  }
}

$("form").addEventListener("submit", submit);
$("lang-switch").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  render();
});
load();
