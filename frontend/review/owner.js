// The business owner's page: what HR shared (one candidate or a shortlist), each with its review and a
// recommendation form. The link is the credential: the token in the path opens the data, nothing is stored here.
import { translator } from "/static/review/i18n.js";
import { el, renderReview } from "/static/review/render.js";

const $ = (id) => document.getElementById(id);
const token = decodeURIComponent(location.pathname.split("/r/")[1] ?? "");
const api = `/api/v1/reviews/${encodeURIComponent(token)}`;

// Exposed for end-to-end tests.
const state = (window.ownerReview = { data: null, lang: null, sent: [] });

function language() {
  const chosen = localStorage.getItem("review.lang");
  if (chosen === "zh" || chosen === "en") return chosen;
  return state.data?.share.language ?? (navigator.language.startsWith("zh") ? "zh" : "en");
}

async function load() {
  let response;
  try {
    response = await fetch(api, { cache: "no-store" });
  } catch {
    return fail("load_failed");
  }
  if (response.status === 401) return fail("link_invalid");
  if (response.status === 410) return fail("link_revoked");
  if (!response.ok) return fail("load_failed");
  state.data = await response.json();
  render();
}

function fail(key) {
  state.lang = language();
  const t = translator(state.lang);
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  $("status").textContent = t(key);
  $("status").className = "error";
  $("status").setAttribute("role", "alert");
}

function render() {
  state.lang = language();
  const t = translator(state.lang);
  const { share, candidates } = state.data;
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.title = share.company_name ? `${t("page_title")} · ${share.company_name}` : t("page_title");
  $("title").textContent = t("page_title");
  $("lang-switch").textContent = t("language");
  $("lang-switch").lang = state.lang === "zh" ? "en" : "zh-CN";
  $("status").hidden = true;
  $("intro").hidden = false;
  $("shared-by").textContent = t("shared_by", { who: share.shared_by || t("hr") });
  $("message").hidden = !share.message;
  $("message").textContent = share.message;
  $("expires").textContent = t("link_expires", { date: t.date(share.expires_at) });

  const container = $("candidates");
  container.replaceChildren();
  if (!candidates.length) {
    container.append(el("p", { class: "card", text: t("no_candidates") }));
    return;
  }
  // A shortlist gets a list of names to jump between; each candidate is its own section below.
  $("picker").hidden = candidates.length < 2;
  $("picker-title").textContent = t("candidates");
  $("picker-list").replaceChildren(
    ...candidates.map((c, i) => el("li", {}, el("a", { href: `#candidate-${i + 1}`, text: `${c.candidate.name} · ${c.interview.job_title}` }))),
  );
  candidates.forEach((doc, i) => {
    const id = `candidate-${i + 1}`;
    const article = renderReview(doc, t, id);
    article.id = id;
    article.append(recommendationForm(doc, t, id));
    container.append(article);
  });
}

function recommendationForm(doc, t, id) {
  const mine = doc.owner_reviews.filter((r) => r.owner_name === state.data.share.owner_name);
  const latest = mine[mine.length - 1];
  const form = el("form", { class: "card recommend", "aria-labelledby": `${id}-rec`, novalidate: true });
  const legend = el("legend", { id: `${id}-rec`, text: t("your_recommendation") });
  const choice = (value) =>
    el("label", { class: "choice" },
      el("input", { type: "radio", name: `${id}-choice`, value, checked: latest?.recommendation === value }),
      " ", t(value));
  const comment = el("textarea", { id: `${id}-comment`, rows: 3, maxlength: 4000, required: true });
  comment.value = latest?.comment ?? "";
  const feedback = el("p", { id: `${id}-feedback`, role: "status", class: "feedback" });
  if (latest) feedback.textContent = t("recorded", { date: t.date(latest.created_at), choice: t(latest.recommendation) });
  const submit = el("button", { type: "submit", text: t("submit") });
  form.append(
    el("fieldset", {}, legend, choice("recommend"), choice("do_not_recommend")),
    el("label", { for: `${id}-comment`, text: t("comment") }),
    comment,
    submit,
    feedback,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const picked = form.querySelector(`input[name="${id}-choice"]:checked`)?.value;
    feedback.className = "feedback error";
    if (!picked) {
      feedback.textContent = t("choose");
      form.querySelector("input[type=radio]").focus();
      return;
    }
    if (!comment.value.trim()) {
      feedback.textContent = t("comment_needed");
      comment.setAttribute("aria-invalid", "true");
      comment.focus();
      return;
    }
    comment.removeAttribute("aria-invalid");
    submit.disabled = true;
    feedback.className = "feedback muted";
    feedback.textContent = t("sending");
    try {
      const response = await fetch(`${api}/interviews/${encodeURIComponent(doc.interview.id)}/recommendation`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ recommendation: picked, comment: comment.value }),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(body.detail ?? body.title ?? response.status);
      doc.owner_reviews.push(body);
      state.sent.push(body);
      feedback.className = "feedback ok";
      feedback.textContent = t("recorded", { date: t.date(body.created_at), choice: t(body.recommendation) });
    } catch (error) {
      feedback.className = "feedback error";
      feedback.textContent = t("send_failed", { reason: error.message });
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

$("lang-switch").addEventListener("click", () => {
  localStorage.setItem("review.lang", state.lang === "zh" ? "en" : "zh");
  if (state.data) render();
  else load();
});

load();
