// One candidate's review (the server's review document) as a page section: summary first, then each answer with its
// video and transcript (a line plays the video from where it was said), then the integrity checks.
// Everything is worded here, in the page's language; numbers come from the server, never formulas or internal ids.

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export function renderReview(doc, t, idPrefix) {
  const article = el("article", { class: "review", "aria-labelledby": `${idPrefix}-name` });
  const status = el("span", { class: `badge ${doc.interview.status}`, text: t(`status_${doc.interview.status}`) });
  article.append(
    el("h2", { id: `${idPrefix}-name` }, doc.candidate.name, " ", status),
    el("p", { class: "muted", text: doc.interview.job_title }),
  );
  if (doc.candidate.email) article.append(el("p", {}, el("a", { href: `mailto:${doc.candidate.email}`, text: doc.candidate.email })));
  if (doc.scheduling && doc.scheduling.booking) article.append(scheduling(doc.scheduling, t));
  article.append(summary(doc, t), match(doc, t), profile(doc, t), answers(doc, t, idPrefix), integrity(doc, t));
  return article;
}

// The booked time and how each calendar invitation and reminder went: HR can tell a candidate "we reminded you".
function scheduling(s, t) {
  const when = (iso) => new Date(iso).toLocaleString(t("locale"), { dateStyle: "medium", timeStyle: "short" });
  const section = el("section", { class: "card scheduling" }, el("h3", { text: t("booked_time") }));
  const b = s.booking;
  const said = { booked: "booked_for", missed: "booking_missed" }[b.status] ?? "booking_cancelled";
  section.append(el("p", { text: t(said, { time: when(b.starts_at), zone: b.timezone }) }));
  if (b.no_shows) section.append(el("p", { class: "muted", text: t("booking_no_shows", { count: b.no_shows }) }));
  if (b.changes) section.append(el("p", { class: "muted", text: t("booking_changes", { count: b.changes }) }));
  if (s.reminders.length) {
    const rows = s.reminders.map((r) =>
      el(
        "tr",
        {},
        el("td", { text: t(`channel_${r.channel}`) }),
        el("td", { text: r.channel === "calendar" ? t("invitation") : t("hours_before", { hours: r.hours_before }) }),
        el("td", { text: `${t(`delivery_${r.status}`)}${r.sent_at ? ` · ${when(r.sent_at)}` : ""}${r.error ? ` · ${r.error}` : ""}` }),
      ),
    );
    const head = el("tr", {}, el("th", { scope: "col", text: t("channel") }), el("th", { scope: "col", text: t("what") }), el("th", { scope: "col", text: t("delivery") }));
    section.append(el("table", { class: "reminders" }, el("caption", { class: "visually-hidden", text: t("reminders") }), el("thead", {}, head), el("tbody", {}, ...rows)));
  }
  return section;
}

function summary(doc, t) {
  const s = doc.summary;
  const section = el("section", { class: "card" }, el("h3", { text: t("summary") }));
  const overall = s.overall === null ? t("not_scored") : t("out_of", { score: s.overall });
  section.append(el("p", { class: "overall" }, el("strong", { text: `${t("overall")}: ` }), overall));
  const scored = s.dimensions.filter((d) => d.score !== null && d.answered > 0);
  if (scored.length) {
    const sorted = [...scored].sort((a, b) => b.score - a.score);
    const answered = scored.reduce((n, d) => n + d.answered, 0);
    const best = t(sorted[0].dimension);
    const worst = t(sorted[sorted.length - 1].dimension);
    section.append(el("p", { text: sorted.length > 1 ? t("overall_reason", { answered, best, worst }) : t("overall_reason_one", { answered, best }) }));
  }
  if (s.suggestion) section.append(el("p", {}, `${t("suggestion")}: `, el("strong", { text: t(`suggest_${s.suggestion}`) })));
  if (!s.complete) section.append(el("p", { class: "notice", text: t("incomplete") }));
  const list = el("dl", { class: "dimensions" });
  for (const d of s.dimensions) {
    const reason = d.key_points
      ? t("dimension_reason", { made: d.key_points_made, total: d.key_points, answered: d.answered })
      : t("dimension_no_points", { answered: d.answered });
    list.append(
      el("div", {},
        el("dt", { text: t(d.dimension) }),
        el("dd", {}, el("strong", { text: d.score === null ? t("not_scored") : t("out_of", { score: d.score }) }), el("br"), reason)),
    );
  }
  section.append(list);
  return section;
}

function match(doc, t) {
  const section = el("section", { class: "card" }, el("h3", { text: t("match") }), el("p", { text: t("match_score", { score: doc.match.score }) }));
  const list = el("ul", { class: "requirements" });
  for (const r of doc.match.requirements) {
    let what = r.requirement;
    if (r.kind === "experience") what = t("experience_req", { has: doc.candidate.years_experience, asks: r.asks_years ?? 0 });
    else if (r.kind === "education") what = t("education_req", { level: t.education(r.requirement) });
    else what = `${t(r.kind)}: ${r.requirement}`;
    list.append(el("li", {}, el("span", { class: `met ${r.met}`, text: t(r.met) }), " ", what));
  }
  section.append(list);
  return section;
}

function profile(doc, t) {
  const c = doc.candidate;
  const section = el("section", { class: "card" }, el("h3", { text: t("profile") }), el("p", { text: t("years_experience", { years: c.years_experience }) }));
  if (c.summary) section.append(el("p", { text: c.summary }));
  if (c.skills.length) section.append(el("p", {}, el("strong", { text: `${t("skills_list")}: ` }), c.skills.map((s) => (s.years ? `${s.name} (${s.years})` : s.name)).join(", ")));
  if (c.projects.length) {
    const list = el("ul");
    for (const p of c.projects) list.append(el("li", {}, el("strong", { text: p.name }), p.description ? ` — ${p.description}` : ""));
    section.append(el("h4", { text: t("projects") }), list);
  }
  return section;
}

function answers(doc, t, idPrefix) {
  const section = el("section", { class: "card" }, el("h3", { text: t("questions") }));
  for (const q of doc.questions) section.append(answer(q, t, `${idPrefix}-q${q.number}`));
  return section;
}

function answer(q, t, id) {
  const block = el("div", { class: "answer", "aria-labelledby": `${id}-title`, role: "group" });
  const heading = el("h4", { id: `${id}-title` }, t("question_n", { n: q.number }), q.follow_up ? ` (${t("follow_up")})` : "");
  block.append(heading, el("p", { class: "question", text: q.text }));
  block.append(el("p", { text: q.answered ? t("score", { score: q.score }) : t("not_answered") }));

  const players = q.videos.map((v) => {
    const video = el("video", { controls: true, preload: "metadata", playsinline: true, src: v.url, "aria-label": t("video_of", { n: q.number }) });
    return { video, starts: v.starts_s, ends: v.starts_s + v.seconds };
  });
  if (players.length) players.forEach((p) => block.append(el("div", { class: "player" }, p.video)));
  else if (q.answered && !q.typed.length) block.append(el("p", { class: "muted", text: t("no_video") }));

  // Plays the recording from `at` (interview time): the file that covers it, from the right offset.
  const playFrom = (at) => {
    const player = players.find((p) => at >= p.starts - 0.5 && at <= p.ends) ?? players[0];
    if (!player) return;
    player.video.currentTime = Math.max(0, at - player.starts);
    player.video.play().catch(() => {});
    player.video.focus();
  };
  const seekButton = (at, label) =>
    players.length && at !== null && at !== undefined
      ? el("button", { type: "button", class: "seek", "aria-label": t("jump_to", { time: clock(at - q.asked_s) }), text: label })
      : null;

  if (q.transcript.length) {
    const lines = el("ol", { class: "transcript" });
    const evidence = q.points_made.map((p) => p.said).filter((said) => said && said.length >= 2);
    for (const span of q.transcript) {
      const button = seekButton(span.start_s, clock(span.start_s - q.asked_s));
      if (button) button.addEventListener("click", () => playFrom(span.start_s));
      lines.append(el("li", {}, button, " ", highlighted(span.text, evidence)));
    }
    block.append(el("h5", { text: t("transcript") }), lines);
  }
  if (q.typed.length) block.append(el("h5", { text: t("typed") }), ...q.typed.map((text) => el("p", { class: "typed", text })));
  if (q.points_made.length) {
    const list = el("ul", { class: "points made" });
    for (const p of q.points_made) {
      const button = seekButton(p.start_s, clock((p.start_s ?? 0) - q.asked_s));
      if (button) button.addEventListener("click", () => playFrom(p.start_s));
      list.append(el("li", {}, el("strong", { text: p.point }), p.said ? el("q", { text: p.said }) : null, button));
    }
    block.append(el("h5", { text: t("points_made") }), list);
  }
  if (q.points_missed.length) {
    block.append(el("h5", { text: t("points_missed") }), el("ul", { class: "points missed" }, ...q.points_missed.map((p) => el("li", { text: p.point }))));
  }
  if (q.delivery) {
    const d = q.delivery;
    const unit = t(d.rate_unit === "cpm" ? "unit_chars" : "unit_words");
    block.append(el("p", { class: "muted", text: t("speaking", { seconds: d.speaking_s, rate: d.rate_per_min, unit, pauses: d.long_pauses }) }));
  }
  return block;
}

// The words that made a key point, marked where they were said (plain text nodes around <mark>: nothing is parsed).
function highlighted(text, evidence) {
  const line = el("span");
  let rest = text;
  while (rest) {
    const hits = evidence.map((said) => [rest.indexOf(said), said]).filter(([at]) => at >= 0).sort((a, b) => a[0] - b[0]);
    if (!hits.length) break;
    const [at, said] = hits[0];
    line.append(rest.slice(0, at), el("mark", { text: said }));
    rest = rest.slice(at + said.length);
  }
  line.append(rest);
  return line;
}

function integrity(doc, t) {
  const i = doc.integrity;
  const section = el("section", { class: "card" }, el("h3", { text: t("integrity") }));
  section.append(el("p", { text: i.video_seconds ? t("face_visible", { share: Math.round((i.face_visible_share ?? 0) * 100) }) : t("no_video_analysis") }));
  if (i.several_faces_at_s.length) section.append(el("p", { text: t("several_faces", { count: i.several_faces_at_s.length }) }));
  if (i.tab_switches) section.append(el("p", { class: "tab-switches", text: t("tab_switches", { count: i.tab_switches, seconds: i.away_s }) }));
  if (i.flags.length) section.append(el("p", {}, ...i.flags.map((f) => el("span", { class: "flag", text: t(`flag_${f}`) }))));
  return section;
}

export { el };
