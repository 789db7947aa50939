// The candidate's own result at the end: fetched with the invite token, drawn as scores and suggestions.
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const RESULT_ATTEMPTS = 15;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The report is written as the interview completes; a 409 means "not yet", so ask again for a while.
export async function fetchResult(interviewId, token) {
  for (let attempt = 0; attempt < RESULT_ATTEMPTS; attempt++) {
    let response;
    try {
      response = await fetch(`/api/v1/interviews/${interviewId}/result`, { headers: { Authorization: `Bearer ${token}` } });
    } catch (error) {
      response = null;
    }
    if (response?.ok) return response.json();
    if (response && response.status !== 409) break;
    await sleep(Math.min(4000, 500 * (attempt + 1)));
  }
  return null;
}

/** Draws the result into the result step's elements, in the current UI language. */
export function renderResult(result) {
  $("result-status").hidden = true;
  $("result").hidden = false;
  const score = (value) => (value === null || value === undefined ? "—" : t("score_of", { score: Math.round(value) }));
  $("result-overall").textContent = score(result.overall);
  const row = (label, value, bar) => {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "label";
    name.textContent = label;
    const number = document.createElement("strong");
    number.textContent = value;
    item.append(name, number);
    if (bar !== null) {
      const track = document.createElement("span");
      track.className = "bar";
      const fill = document.createElement("span");
      fill.style.width = `${Math.max(0, Math.min(100, bar))}%`;
      track.append(fill);
      item.append(track);
    }
    return item;
  };
  $("result-competencies").replaceChildren(
    ...Object.entries(result.competencies).map(([name, value]) => row(t(`competency_${name}`), score(value), value)),
  );
  $("result-questions").replaceChildren(
    ...result.questions.map((q) => row(q.text, q.answered ? score(q.score) : t("not_answered"), q.score)),
  );
  const strengths = result.questions.filter((q) => (result.strengths ?? []).includes(q.index));
  $("result-strengths-box").hidden = strengths.length === 0;
  $("result-strengths").replaceChildren(
    ...strengths.map((q) => Object.assign(document.createElement("li"), { textContent: t("strength_item", { question: q.text }) })),
  );
  $("result-suggestions").replaceChildren(
    ...result.suggestions.map((text) => Object.assign(document.createElement("li"), { textContent: text })),
  );
}
