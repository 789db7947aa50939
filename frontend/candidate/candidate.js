// The candidate's interview page: device check, consent, practice, then the interview over WHIP and the
// websocket (reconnecting both when the network drops), a chat with the company, and the result.
import { WhipPublisher } from "./whip.js";
import { DeviceError, LevelMeter, VIDEO_FPS, captureSupport, openDevices } from "./device-check.js";
import { duration, language, setLanguage, t } from "./i18n.js";
import { fetchResult, renderResult } from "./result.js";

const $ = (id) => document.getElementById(id);
const token = decodeURIComponent(location.pathname.split("/").pop());
const interviewId = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub;
const params = new URLSearchParams(location.search);
const support = captureSupport();

// Exposed for support tooling and end-to-end tests: what the page has seen and done.
const state = (window.interview = {
  interviewId, messages: [], errors: [], chat: [], support,
  info: null, mode: null, plannedMode: null, step: null, stream: null, pc: null, whip: null,
  question: null, countdown: null, started: false, finished: false,
  networkRttMs: null, micDbfs: null, reconnects: 0, reconnecting: false, result: null,
  mediaGeneration: 0, mediaFailed: false, // which attempt to connect media is the current one; its offer shown
});

const RECONNECT_MAX_DELAY_MS = 8000;
const ICE_TIMEOUT_MS = 10000; // a network that lets no media through is told so, with other ways to go on, after this
const ANNOUNCE_EVERY_MS = 30000; // screen readers hear the time left at each phase change, and at most this often
const RECONNECT_ATTEMPTS = 12;
const BUSY_CODES = ["node_busy", "node_full"]; // the server is carrying all it can: wait and try again
const BUSY_MIN_WAIT_S = 2;
const BUSY_MAX_WAIT_S = 60;
const DISCONNECTED_GRACE_MS = 3000; // ICE "disconnected" often recovers by itself within a second or two
const ICE_RESTART_WAIT_MS = 6000; // an ICE restart that has not brought the media back by then gives way to a new session
const KEEPALIVE_MS = 10000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- what this browser remembers of this interview: a reload does not send the candidate through it all again ----

const memoryKey = `interview:${interviewId}`;

function remembered() {
  try {
    return JSON.parse(localStorage.getItem(memoryKey)) ?? {};
  } catch {
    return {}; // storage blocked (private mode, some in-app browsers): every step is shown again
  }
}

function remember(fields) {
  try {
    localStorage.setItem(memoryKey, JSON.stringify({ ...remembered(), ...fields }));
  } catch {
    // nothing to do: the page works without it
  }
}

// ---- language ----

let languageChosen = params.get("lang"); // ?lang= beats the interview's language, and so does the switch

function applyLanguage(lang) {
  setLanguage(lang);
  render();
}

// ---- steps ----

const STEPS = ["welcome-step", "resume-step", "device-step", "consent-step", "practice-step", "interview-step", "result-step", "done-step"];
const MODES = ["text", "voice", "video"]; // lightest first

function show(step) {
  state.step = step;
  for (const id of STEPS) $(id).hidden = id !== step;
  $("chat").hidden = !state.info || step === "result-step" || step === "done-step";
  render();
}

// Every text that depends on state, redrawn on each change and on a language switch.
function render() {
  const info = state.info;
  const mode = state.plannedMode ?? state.mode ?? "video";
  document.title = info ? `${info.job_title} · ${t("title")}` : t("title");
  $("job-title").textContent = info ? info.job_title : t("title");
  $("greeting").textContent = state.unreachable ? t("network_failed") : info ? t("greeting", { name: info.candidate_name }) : t("connecting");
  $("avatar").hidden = !info?.avatar_url;
  if (info?.avatar_url && $("avatar").getAttribute("src") !== info.avatar_url) $("avatar").src = info.avatar_url;
  $("wechat-login").hidden = !info?.wechat_login_url;
  if (info?.wechat_login_url) $("wechat-login").href = info.wechat_login_url;
  $("wechat-login").textContent = t("wechat_login");
  $("device-title").textContent = t({ video: "device_title", voice: "device_title_voice", text: "device_title_text" }[mode]);
  $("device-intro").textContent = t({ video: "device_intro", voice: "device_intro_voice", text: "device_intro_text" }[mode]);
  $("device-check").textContent = t(mode === "video" ? "device_check" : "device_check_voice");
  const company = info?.company_name || t("the_company");
  $("consent-text").textContent = t(`consent_${mode}`);
  $("consent-recording-text").textContent = t(`consent_recording_${mode}`, { company });
  $("consent-ai-text").textContent = t("consent_ai", { company });
  $("consent-emotion-item").hidden = !(info?.emotion_analysis && mode === "video");
  $("consent-emotion-text").textContent = t("consent_emotion_item", { company });
  $("consent-retention").textContent = t("consent_retention", { company, days: info?.retention_days ?? 180 });
  $("consent-privacy").hidden = !info?.privacy_policy_url;
  if (info?.privacy_policy_url) $("privacy-link").href = info.privacy_policy_url;
  renderWelcome();
  renderChecks();
  renderMediaState();
  renderQuestion();
  renderCountdowns();
  renderChat();
  if (state.result) renderResult(state.result);
}

// ---- websocket ----

let socket = null;
const pongWaiters = [];

function connectSocket() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = (socket = state.socket = new WebSocket(`${scheme}://${location.host}/ws/interviews/${interviewId}?token=${encodeURIComponent(token)}`));
  ws.addEventListener("message", (event) => {
    if (ws === socket) onMessage(JSON.parse(event.data));
  });
  // The server decodes partial captions only while someone reads them: say on every connection whether we do.
  ws.addEventListener("open", () => send({ type: "captions", on: state.captions === true }));
  ws.addEventListener("close", (event) => {
    if (ws !== socket) return;
    pongWaiters.splice(0).forEach((resolve) => resolve(null));
    if (event.code !== 1000 && !state.finished) {
      if (state.started) reconnect("socket");
      else (state.unreachable = true), render();
    }
  });
  return ws;
}

function send(message) {
  if (socket?.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify({ v: 1, ...message }));
    return true;
  }
  return false;
}

/** One ping's round trip in ms, or null when no pong comes within `timeoutMs`. */
function ping(timeoutMs = 5000) {
  return new Promise((resolve) => {
    const sent = performance.now();
    const waiter = (at) => resolve(at === null ? null : at - sent);
    if (!send({ type: "ping" })) return resolve(null);
    pongWaiters.push(waiter);
    setTimeout(() => {
      const i = pongWaiters.indexOf(waiter);
      if (i >= 0) pongWaiters.splice(i, 1), resolve(null);
    }, timeoutMs);
  });
}

// The network check: the median of three websocket round trips (what the interview's messages will see).
async function checkNetwork() {
  const rtts = [];
  for (let i = 0; i < 3; i++) {
    const rtt = await ping();
    if (rtt === null) break;
    rtts.push(rtt);
  }
  state.networkRttMs = rtts.length ? Math.round(rtts.sort((a, b) => a - b)[Math.floor(rtts.length / 2)]) : -1;
  renderChecks();
}

// A socket can stay "open" over a dead network for minutes: a missed pong during the interview counts as a drop.
setInterval(async () => {
  if (!state.started || state.finished || state.reconnecting || socket?.readyState !== WebSocket.OPEN) return;
  const watched = socket;
  if ((await ping(KEEPALIVE_MS)) === null && watched === socket && !state.finished) {
    watched.close(4000, "keepalive");
    reconnect("keepalive");
  }
}, KEEPALIVE_MS);

let helloWaiter = null;

function onMessage(message) {
  state.messages.push({ at: performance.now(), ...message });
  switch (message.type) {
    case "hello":
      onHello(message.interview);
      break;
    case "pong":
      pongWaiters.shift()?.(performance.now());
      break;
    case "media":
      state.serverMedia = message.state;
      renderMediaState();
      // The server ended our media for going over its limits: say why; reconnecting would only repeat it.
      if (message.state === "refused" && message.reason) {
        $("connection-notice").textContent = t(`refused_${message.reason}`);
        $("connection-notice").hidden = false;
      }
      // The server lost our media mid-interview (its side timed out or failed): publish again. Before media ever
      // connected, connectMedia() waits for it and offers the other ways itself.
      if (state.connectedAt && state.started && !state.finished && (message.state === "failed" || message.state === "disconnected")) {
        reconnect(`server-${message.state}`);
      }
      break;
    case "levels":
      state.serverLevels = message;
      renderMediaState();
      break;
    case "caption":
      showCaption(message);
      break;
    case "speech":
      if (message.state === "started") $("silence-hint").hidden = true;
      break;
    case "silence_hint":
      onSilenceHint(message);
      break;
    case "question":
      onQuestion(message);
      break;
    case "chat":
      state.chat.push({ sender: message.sender, text: message.text, escalated: message.escalated });
      renderChat();
      break;
    case "completed":
      finish(message.reason);
      break;
    case "error":
      state.errors.push(message);
      console.warn("interview server:", message.code, message.message);
      break;
  }
}

function onHello(info) {
  const first = state.info === null;
  state.info = info;
  state.mode = info.mode;
  if (first) {
    if (!languageChosen) setLanguage(info.language === "zh" ? "zh" : "en");
    const memory = remembered();
    // A lighter mode chosen before a reload stays chosen (the server confirms it when the interview starts).
    state.plannedMode = MODES.indexOf(memory.mode) >= 0 && MODES.indexOf(memory.mode) <= MODES.indexOf(info.mode) ? memory.mode : info.mode;
    state.captions = memory.captions === true;
    if (["completed", "cancelled", "abandoned"].includes(info.status)) finish(info.status === "completed" ? "finished" : info.status);
    // Back after a reload: consent and the device check were done here; one tap opens the camera again.
    else if (memory.consent && memory.devices) enterResumeStep();
    else if (memory.welcome) enterDeviceStep();
    else enterWelcomeStep();
  }
  helloWaiter?.(info);
  render();
}

// ---- step 0: welcome (who, what, how long, which way to answer) ----

function enterWelcomeStep() {
  show("welcome-step");
  const scheduled = MODES.indexOf(state.info.mode);
  for (const mode of MODES) {
    $(`mode-${mode}-option`).hidden = MODES.indexOf(mode) > scheduled;
    document.querySelector(`input[name=mode][value=${mode}]`).checked = mode === state.plannedMode;
  }
  $("mode-choice").hidden = scheduled === 0; // a text interview has nothing lighter
  $("welcome-continue").focus();
}

function renderWelcome() {
  const info = state.info;
  if (!info) return;
  const mode = state.plannedMode ?? info.mode;
  $("welcome-text").textContent = t(info.company_name ? "welcome_text" : "welcome_text_no_company", {
    company: info.company_name,
    job: info.job_title,
  });
  $("welcome-questions").textContent = t("welcome_questions", { n: info.total_questions });
  $("welcome-duration").textContent = t("welcome_duration", { minutes: info.expected_minutes });
  $("welcome-how").textContent = t(`welcome_how_${mode}`);
  $("self-id").hidden = !info.ask_self_identification;
}

function leaveWelcome() {
  const chosen = document.querySelector("input[name=mode]:checked")?.value ?? state.plannedMode;
  state.plannedMode = chosen;
  remember({ welcome: true, mode: chosen });
  sendSelfIdentification();
  enterDeviceStep();
}

/** Only what the candidate chose to say, and only if they said something; a failure costs them nothing. */
function sendSelfIdentification() {
  if (!state.info?.ask_self_identification) return;
  const identity = { sex: $("self-id-sex").value, race: $("self-id-race").value };
  if (identity.sex === "undisclosed" && identity.race === "undisclosed") return;
  fetch(`/api/v1/interviews/${interviewId}/self-identification`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify(identity),
  }).then((response) => (state.selfIdentified = response.status === 204)).catch(() => {});
}

function enterResumeStep() {
  show("resume-step");
  $("resume").focus();
}

/** The one tap a returning candidate makes: the camera and microphone again, then straight back in. */
async function resume() {
  $("resume").disabled = true;
  if (state.plannedMode !== "text") {
    try {
      attachStream(await openDevices(state.plannedMode === "video"));
    } catch (error) {
      // The devices changed since (blocked, unplugged): the device check explains and offers the other ways.
      remember({ devices: false });
      $("resume").disabled = false;
      return enterDeviceStep();
    }
  }
  $("resume").disabled = false;
  if (state.info.status === "in_progress" || remembered().practice) return startInterview();
  enterPracticeStep();
}

// ---- step 1: device check ----

let meter = null;

function enterDeviceStep() {
  show("device-step");
  const mode = state.plannedMode;
  const media = mode !== "text";
  $("camera-row").hidden = mode !== "video";
  $("microphone-row").hidden = !media;
  if (media && !support.canCapture) {
    // No camera here at all: say why and offer writing (a voice interview too needs getUserMedia).
    $("unsupported").hidden = false;
    $("device-intro").hidden = $("camera-row").hidden = $("microphone-row").hidden = true;
    $("device-check").hidden = $("device-continue").hidden = true;
    $("use-text").hidden = false;
    $("use-text").className = "";
  } else {
    $("device-check").hidden = !media;
    $("device-continue").disabled = media;
  }
  checkNetwork();
}

function renderChecks() {
  const camera = state.checks?.camera;
  const microphone = state.checks?.microphone;
  if (camera) $("camera-status").textContent = t(camera);
  if (microphone) $("microphone-status").textContent = t(microphone === "working" ? "speak_now" : microphone);
  $("camera-status").className = camera === "unavailable" ? "error" : camera === "working" ? "ok" : "";
  $("microphone-status").className = microphone === "unavailable" ? "error" : microphone === "working" ? "ok" : "";
  const rtt = state.networkRttMs;
  if (rtt !== null) {
    $("network-status").textContent = rtt < 0 ? t("network_failed") : t(rtt < 400 ? "network_ok" : "network_slow", { ms: rtt });
    $("network-status").className = rtt < 0 ? "error" : rtt < 400 ? "ok" : "warn";
  }
}

async function checkDevices() {
  $("device-check").disabled = true;
  $("device-error").hidden = true;
  $("use-voice").hidden = $("use-text").hidden = true;
  state.checks = { camera: state.plannedMode === "video" ? "checking" : null, microphone: "checking" };
  renderChecks();
  releaseStream();
  try {
    attachStream(await openDevices(state.plannedMode === "video"));
    state.checks = { camera: state.plannedMode === "video" ? "working" : null, microphone: "working" };
    $("device-continue").disabled = false;
    $("device-check").hidden = true; // done: "Continue" is the one thing left to press
  } catch (error) {
    if (!(error instanceof DeviceError)) throw error;
    const device = { camera: "camera_lower", microphone: "microphone_lower", camera_and_microphone: "camera_and_microphone" }[error.device];
    const key = { denied: "denied", missing: "missing", busy: "busy", failed: "device_failed" }[error.kind];
    $("device-error").textContent = t(key, { device: t(device), error: error.message });
    $("device-error").hidden = false;
    state.deviceError = { kind: error.kind, device: error.device };
    state.checks = {
      camera: state.plannedMode !== "video" ? null : error.device === "microphone" ? "working" : "unavailable",
      microphone: error.device === "camera" ? "working" : "unavailable",
    };
    if (error.audioOnly) {
      attachStream(error.audioOnly);
      $("use-voice").hidden = false;
    }
    $("use-text").hidden = false;
    $("device-check").textContent = t("retry");
  }
  $("device-check").disabled = false;
  renderChecks();
}

function attachStream(stream) {
  state.stream = stream;
  const video = stream.getVideoTracks().length > 0;
  $("device-preview").hidden = !video;
  if (video) {
    $("device-preview").srcObject = stream;
    $("device-preview").play?.().catch(() => {}); // WeChat on iOS needs play() inside the tap
  }
  meter?.close();
  let shown = -1;
  meter = new LevelMeter(stream, (level, dbfs) => {
    state.micDbfs = dbfs;
    const percent = Math.round(level * 100);
    for (const id of ["device-level", "practice-level", "answer-level"]) $(id).style.width = `${percent}%`;
    // The meters' value for assistive technology, in steps of 10 (not every animation frame).
    const step = Math.round(percent / 10) * 10;
    if (step !== shown) {
      shown = step;
      for (const el of document.querySelectorAll("[role=meter]")) el.setAttribute("aria-valuenow", String(step));
    }
  });
}

function releaseStream() {
  meter?.close();
  meter = null;
  state.stream?.getTracks().forEach((track) => track.stop());
  state.stream = null;
}

function useLighterMode(mode) {
  lighten(mode);
  enterConsentStep();
}

/** Plan a lighter mode (remembered across reloads): no camera for voice, no devices at all for writing. */
function lighten(mode) {
  state.plannedMode = mode;
  remember({ mode });
  if (mode === "text") releaseStream();
  else {
    for (const track of state.stream?.getVideoTracks() ?? []) {
      track.stop();
      state.stream.removeTrack(track);
    }
  }
}

/** Hang up the media session (WHIP DELETE; a server that already dropped it answers 404) and its connection. */
async function hangUp() {
  const pc = state.pc;
  await state.whip?.stop();
  pc?.close();
}

// ---- step 2: consent ----

function enterConsentStep() {
  remember({ devices: state.plannedMode === "text" || state.stream !== null });
  for (const id of ["consent-recording", "consent-ai", "consent-emotion"]) $(id).checked = false;
  $("consent-continue").disabled = true;
  $("consent-error").hidden = true;
  show("consent-step");
}

function renderConsentButton() {
  $("consent-continue").disabled = !($("consent-recording").checked && $("consent-ai").checked);
}

/** Each item as the candidate ticked it, stored by the server with the time and the version of these texts. */
async function giveConsent() {
  $("consent-continue").disabled = true;
  const items = {
    recording: $("consent-recording").checked,
    ai_scoring: $("consent-ai").checked,
    emotion_analysis: !$("consent-emotion-item").hidden && $("consent-emotion").checked,
  };
  try {
    const response = await fetch(`/api/v1/interviews/${interviewId}/consent`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ items, text_version: state.info.consent_version, language: language() }),
    });
    if (response.status !== 201) throw new Error(`HTTP ${response.status}`);
  } catch (error) {
    $("consent-error").textContent = t("consent_failed", { error: error.message });
    $("consent-error").hidden = false;
    renderConsentButton();
    return;
  }
  remember({ consent: true });
  enterPracticeStep();
}

// ---- step 3: practice (local only, never sent) ----

function enterPracticeStep() {
  const text = state.plannedMode === "text";
  $("practice-text").hidden = !text;
  $("practice-meter").hidden = text;
  show("practice-step");
}

function tryPractice() {
  // A short version of a real question's timing: a few seconds to think, then twenty to answer.
  state.practice = countdown({ think_seconds: 3, answer_seconds: 20 });
  $("practice-try").textContent = t("practice_again");
  $("practice-try").dataset.i18n = "practice_again";
  renderCountdowns();
}

// ---- countdowns ----

// `elapsedS`: how long the question has been open on the server's clock (a reloaded page resumes its countdown).
function countdown(question, elapsedS = 0) {
  const now = performance.now() - elapsedS * 1000;
  return { thinkEnds: now + question.think_seconds * 1000, answerEnds: now + (question.think_seconds + question.answer_seconds) * 1000 };
}

function phaseOf(clock) {
  if (!clock) return null;
  const now = performance.now();
  if (now < clock.thinkEnds) return { phase: "think", left: (clock.thinkEnds - now) / 1000 };
  if (now < clock.answerEnds) return { phase: "answer", left: (clock.answerEnds - now) / 1000 };
  return { phase: "over", left: 0 };
}

function describePhase(p) {
  if (!p) return "";
  if (p.phase === "think") return t("think", { time: duration(p.left) });
  if (p.phase === "answer") return t("answer_left", { time: duration(p.left) });
  return t("time_up");
}

// At zero nothing is forced: the server decides when the answer ends; the page only says time is up.
function renderCountdowns() {
  const p = phaseOf(state.countdown);
  state.countdownPhase = p?.phase ?? null;
  $("countdown").textContent = describePhase(p);
  $("countdown").className = `countdown ${p?.phase ?? ""}`;
  // The visible countdown changes every second; what screen readers are told changes far less often.
  const now = performance.now();
  if (p && (state.announced?.phase !== p.phase || now - state.announced.at >= ANNOUNCE_EVERY_MS)) {
    state.announced = { phase: p.phase, at: now };
    $("countdown-announce").textContent = describePhase(p);
  }
  const practice = phaseOf(state.practice);
  state.practicePhase = practice?.phase ?? null;
  $("practice-countdown").textContent = practice?.phase === "over" ? t("practice_done") : describePhase(practice);
  $("practice-countdown").className = `countdown ${practice?.phase ?? ""}`;
}
setInterval(renderCountdowns, 250);

// ---- step 4: the interview ----

function waitForHello(predicate, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no answer from the interview server")), timeoutMs);
    helloWaiter = (info) => {
      if (!predicate(info)) return;
      clearTimeout(timer);
      helloWaiter = null;
      resolve(info);
    };
  });
}

async function startInterview() {
  $("start").disabled = true;
  remember({ practice: true });
  state.practice = null;
  state.started = true;
  const mode = state.plannedMode;
  show("interview-step");
  layOutFor(mode);
  if (mode !== state.mode) {
    // A lighter interview than scheduled: the server confirms with a hello (and, for text, the first question).
    await confirmMode(mode);
    if (mode === "text") return;
  } else if (mode === "text") {
    send({ type: "ready" });
    return;
  }
  await connectMedia();
}

/**
 * Publish the stream and wait for the connection. A network that lets no media through (a firewall, some
 * mobile networks) shows within ICE_TIMEOUT_MS, with the other ways to take the interview.
 */
async function connectMedia() {
  state.mediaGeneration += 1; // a reconnect loop still running gives up
  state.mediaFailed = false;
  $("media-failed").hidden = true;
  $("preview").srcObject = state.stream;
  $("preview").play?.().catch(() => {});
  let pc;
  try {
    pc = await publish();
  } catch (error) {
    state.errors.push({ code: "whip", message: error.message });
    if (error.code === "consent_required") {
      remember({ consent: false });
      return enterConsentStep(); // the server has no consent on record (erased, or given in another browser)
    }
    if (error.status === 503 && BUSY_CODES.includes(error.code)) return waitForRoom(error.retryAfter);
    return reconnect("publish");
  }
  try {
    await waitForPeer(pc, ICE_TIMEOUT_MS);
  } catch (error) {
    state.errors.push({ code: "ice", message: error.message });
    if (state.question === null) offerOtherWays();
    else reconnect("peer-timeout");
  }
}

/**
 * The server has no room for another interview this minute (it refuses before it would fall behind): say so
 * calmly, wait what it asked (jittered, so waiting candidates do not all come back at once) and try again, for
 * as long as the page stays open. Nothing has started yet: the candidate loses nothing by waiting.
 */
async function waitForRoom(retryAfterS) {
  const generation = state.mediaGeneration;
  const waitS = Math.min(BUSY_MAX_WAIT_S, Math.max(BUSY_MIN_WAIT_S, retryAfterS ?? BUSY_MIN_WAIT_S));
  $("connection-notice").textContent = t("server_busy", { s: Math.round(waitS) });
  $("connection-notice").hidden = false;
  await sleep(waitS * 1000 * (0.75 + Math.random() / 2));
  if (generation !== state.mediaGeneration || state.finished) return; // the candidate chose another way meanwhile
  $("connection-notice").hidden = true;
  await hangUp();
  return connectMedia();
}

/** The media cannot get through (at the start, or again mid-interview): voice only, writing, or another try. */
function offerOtherWays() {
  state.mediaFailed = true;
  $("switch-voice").hidden = state.plannedMode !== "video";
  $("media-failed").hidden = false;
  renderMediaState();
  $(state.plannedMode === "video" ? "switch-voice" : "switch-text").focus();
}

/**
 * Hang up the media that does not get through and go on in a lighter mode. Before the first question the
 * interview itself changes mode; later the server keeps its mode, and answers are typed (or spoken without video).
 */
async function switchMode(mode) {
  state.mediaGeneration += 1;
  $("media-failed").hidden = true;
  $("connection-notice").hidden = true;
  state.mediaFailed = false;
  await hangUp();
  state.pc = state.whip = null;
  lighten(mode);
  layOutFor(mode);
  if (state.question === null) await confirmMode(mode);
  if (mode !== "text") await connectMedia();
}

/** Ask the server for a lighter mode than scheduled; it confirms with a hello (and, for text, the first question). */
async function confirmMode(mode) {
  const confirmed = waitForHello((info) => info.mode === mode);
  send({ type: "ready", mode });
  try {
    await confirmed;
  } catch (error) {
    state.errors.push({ code: "mode", message: error.message });
  }
}

/** The interview step as `mode` has it: a self-view for video, the done button and captions for speech. */
function layOutFor(mode) {
  $("self-view").hidden = mode !== "video";
  $("status-line").hidden = $("answer-done").hidden = $("captions-toggle").hidden = mode === "text";
  $("text-answer").hidden = mode !== "text";
  renderCaptionsToggle();
}

function usesMedia() {
  return state.started && state.mode !== "text" && state.stream !== null;
}

/** The STUN/TURN servers to use (TURN with a credential for this interview), before any candidate is gathered. */
async function iceServers() {
  try {
    const response = await fetch(`/api/v1/interviews/${interviewId}/ice-servers`, { headers: { Authorization: `Bearer ${token}` } });
    if (response.ok) return (await response.json()).ice_servers;
  } catch {
    // none: host candidates only, as before
  }
  return [];
}

/** A new peer connection carrying the same stream, published as a new WHIP session. */
async function publish() {
  const pc = (state.pc = new RTCPeerConnection({ iceServers: await iceServers() }));
  pc.addEventListener("connectionstatechange", () => onPeerState(pc));
  const whip = (state.whip = new WhipPublisher(`${location.origin}/api/v1/interviews/${interviewId}/whip`, token));
  // H.264 first wherever the browser has it: the answers' evidence video is kept as sent, and an H.264 file plays
  // on every phone a business owner may open it on (iOS Safari and WeChat do not play VP8); the node also decodes it
  // for the models in a fifth less CPU than VP8 at the same rate (loadtests/bench_answer_recording.py); iOS encodes
  // it in hardware, and some iOS builds offer no VP8 at all. A browser without it sends VP8 (WebM recordings).
  const codec = params.get("codec") ?? "h264";
  await whip.publish(pc, state.stream, codec, VIDEO_FPS);
  state.sessionUrl = whip.resource;
  return pc;
}

let disconnectedTimer = null;

function onPeerState(pc) {
  if (pc !== state.pc) return;
  state.pcState = pc.connectionState;
  clearTimeout(disconnectedTimer);
  if (pc.connectionState === "connected") state.connectedAt = performance.now();
  if (pc.connectionState === "failed" && state.connectedAt) reconnect("peer-failed");
  if (pc.connectionState === "disconnected") disconnectedTimer = setTimeout(() => reconnect("peer-disconnected"), DISCONNECTED_GRACE_MS);
  renderMediaState();
}

async function restartIce() {
  if (!state.whip?.resource || !state.pc) return false;
  try {
    await state.whip.restartIce();
    await waitForPeer(state.pc, ICE_RESTART_WAIT_MS);
    return true;
  } catch (error) {
    state.errors.push({ code: "ice-restart", message: error.message });
    return false;
  }
}

function waitForPeer(pc, timeoutMs) {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (pc.connectionState === "connected") done(resolve);
      else if (pc.connectionState === "failed" || pc.connectionState === "closed") done(() => reject(new Error(`media ${pc.connectionState}`)));
    };
    const done = (settle) => {
      clearTimeout(timer);
      pc.removeEventListener("connectionstatechange", check);
      settle();
    };
    const timer = setTimeout(() => done(() => reject(new Error("media did not connect"))), timeoutMs);
    pc.addEventListener("connectionstatechange", check);
    check();
  });
}

function waitForSocket(ws, timeoutMs) {
  return new Promise((resolve, reject) => {
    if (ws.readyState === WebSocket.OPEN) return resolve();
    const timer = setTimeout(() => reject(new Error("socket did not open")), timeoutMs);
    ws.addEventListener("open", () => (clearTimeout(timer), resolve()), { once: true });
    ws.addEventListener("close", () => (clearTimeout(timer), reject(new Error("socket closed"))), { once: true });
  });
}

/**
 * Get back into the interview after a drop, with backoff: reopen the websocket if it closed, and unless
 * the peer connection is still healthy, hang up the old WHIP session and publish the same stream anew.
 * The server sends the current question again when the new media connects (or, in writing, on "ready").
 */
async function reconnect(reason) {
  if (state.reconnecting || state.finished || !state.started) return;
  state.reconnecting = true;
  state.reconnectReason = reason;
  const generation = state.mediaGeneration;
  const current = () => generation === state.mediaGeneration && !state.finished && !state.mediaFailed;
  // Still not back after this long: say so, and offer voice only or writing (the candidate may wait, too).
  const offer = setTimeout(() => {
    if (state.reconnecting && current() && usesMedia()) offerOtherWays();
  }, ICE_TIMEOUT_MS);
  $("connection-notice").textContent = t("connection_lost");
  $("connection-notice").hidden = false;
  $("reconnect-now").hidden = true;
  renderMediaState();
  for (let attempt = 0; attempt < RECONNECT_ATTEMPTS && current(); attempt++) {
    // Jittered exponential backoff, so a node's candidates do not all come back in the same instant.
    await sleep(Math.min(RECONNECT_MAX_DELAY_MS, 500 * 2 ** attempt) * (0.75 + Math.random() / 2));
    try {
      if (socket?.readyState !== WebSocket.OPEN) {
        await waitForSocket(connectSocket(), 5000);
        send({ type: "ready" });
      }
      // The server dropping our session leaves the browser's side "connected" for a while: publish anew anyway.
      if (usesMedia() && (reason.startsWith("server-") || state.pc?.connectionState !== "connected")) {
        // The network changed under a live session (Wi-Fi to mobile data): restart ICE on it first, which keeps the
        // recording and the question going; publish anew only when that does not bring the media back.
        if (!(attempt === 0 && reason.startsWith("peer-") && (await restartIce()))) {
          await hangUp();
          await waitForPeer(await publish(), 10000);
        }
      }
      if (!current()) break; // the candidate chose another way meanwhile
      clearTimeout(offer);
      state.reconnects += 1;
      state.reconnecting = false;
      $("connection-notice").hidden = true;
      $("media-failed").hidden = true;
      renderMediaState();
      return;
    } catch (error) {
      state.errors.push({ code: "reconnect", message: `${reason}: ${error.message}` });
    }
  }
  clearTimeout(offer);
  state.reconnecting = false;
  if (!state.finished && !state.mediaFailed && generation === state.mediaGeneration) {
    $("connection-notice").textContent = t("reconnect_failed");
    $("reconnect-now").hidden = false;
  }
  renderMediaState();
}

function renderMediaState() {
  const badge = $("media-state");
  const pcState = state.pc?.connectionState;
  const shown = state.reconnecting ? "reconnecting" : pcState === "connected" ? "connected" : state.serverMedia ?? pcState ?? null;
  badge.textContent = shown === "reconnecting" ? t("reconnecting") : shown && shown !== "new" ? t(`media_${shown}`) : t("not_connected");
  badge.className = `badge ${shown ?? ""}`;
  const levels = state.serverLevels;
  const video = (state.plannedMode ?? state.mode) === "video";
  const heard = levels ? (levels.audio_rms_dbfs > -60 ? "hears_you" : "hears_silence") : null;
  $("server-level").textContent = heard ? t(video ? heard : `${heard}_voice`, { fps: levels.video_fps.toFixed(0) }) : "";
  // Recording while the media flows and a question is open; the meter shows the microphone meanwhile.
  const recording = pcState === "connected" && state.question !== null && !state.finished;
  $("recording").hidden = !recording;
  $("answer-meter").hidden = !recording;
}

function onQuestion(message) {
  const same = state.question?.question.id === message.question.id;
  state.question = message;
  $("waiting").hidden = true;
  $("question-box").hidden = false;
  $("media-failed").hidden = true;
  // The same question again (after a reconnect): keep its clock, the caption and what was typed.
  if (!same) {
    state.countdown = countdown(message.question, message.elapsed_s ?? 0);
    state.finalText = "";
    $("caption-final").textContent = $("caption-stable").textContent = $("caption-unstable").textContent = "";
    $("answer-text").value = "";
    $("answer-text").disabled = $("send-answer").disabled = false;
    $("silence-hint").hidden = true;
    state.announced = null;
    $("question-text").focus(); // screen readers read the new question; keyboard users start from it
  }
  renderQuestion();
  renderCountdowns();
  renderMediaState();
}

/** The server noticed a long silence in the answer: say so on screen, and out loud (the server ignores the echo). */
function onSilenceHint(message) {
  if (state.question?.index !== message.index) return;
  const key = message.spoken ? "silence_spoken" : "silence_unspoken";
  $("silence-hint").textContent = t(key);
  $("silence-hint").hidden = false;
  try {
    const words = new SpeechSynthesisUtterance(t(message.spoken ? "silence_speech" : "silence_speech_unspoken"));
    words.lang = language() === "zh" ? "zh-CN" : "en-US";
    speechSynthesis.speak(words);
  } catch {
    // no speech synthesis here (some in-app browsers): the notice on screen stays
  }
}

function renderCaptionsToggle() {
  const on = state.captions === true;
  $("caption").hidden = !on || (state.plannedMode ?? state.mode) === "text";
  $("captions-toggle").setAttribute("aria-pressed", String(on));
  $("captions-toggle").textContent = t(on ? "captions_hide" : "captions_show");
}

function renderQuestion() {
  const message = state.question;
  if (!message) return;
  $("question-progress").textContent =
    (message.question.follow_up ? t("follow_up") : "") + t("question_progress", { n: message.index + 1, total: message.total });
  $("question-text").textContent = message.question.text;
}

// Finals of this answer stay; the utterance in progress shows its stable words, then the rest in grey.
function showCaption(caption) {
  if (caption.final) {
    state.finalText = `${state.finalText ?? ""} ${caption.stable}`.trim();
    $("caption-final").textContent = state.finalText;
    $("caption-stable").textContent = $("caption-unstable").textContent = "";
  } else {
    $("caption-stable").textContent = caption.stable;
    $("caption-unstable").textContent = caption.unstable;
  }
}

// ---- chat ----

function sendChat(event) {
  event.preventDefault();
  const text = $("chat-input").value.trim();
  if (!text || !send({ type: "chat", text })) return;
  state.chat.push({ sender: "you", text });
  $("chat-input").value = "";
  renderChat();
}

function renderChat() {
  const log = $("chat-log");
  log.replaceChildren(
    ...state.chat.map((entry) => {
      const item = document.createElement("li");
      item.className = `chat-${entry.sender}`;
      const who = document.createElement("strong");
      who.textContent = t(`chat_${entry.sender}`);
      const text = document.createElement("span");
      text.textContent = entry.text;
      item.append(who, " ", text);
      if (entry.escalated) {
        const note = document.createElement("em");
        note.textContent = ` (${t("chat_escalated")})`;
        item.append(note);
      }
      return item;
    }),
  );
  log.scrollTop = log.scrollHeight;
}

// ---- step 5: the end ----

function finish(reason) {
  if (state.finished) return;
  state.finished = true;
  state.countdown = null;
  clearTimeout(disconnectedTimer);
  releaseStream();
  state.pc?.close();
  if (reason === "finished" && state.info?.show_result) {
    show("result-step");
    showResult();
  } else {
    $("done-text").dataset.i18n = { cancelled: "cancelled_text", abandoned: "abandoned_text" }[reason] ?? "done_text";
    $("done-text").textContent = t($("done-text").dataset.i18n);
    show("done-step");
  }
}

async function showResult() {
  state.result = await fetchResult(interviewId, token);
  if (state.result) return renderResult(state.result);
  $("result-status").dataset.i18n = "result_unavailable";
  $("result-status").textContent = t("result_unavailable");
}

// ---- wiring ----

$("language-switch").addEventListener("click", () => {
  languageChosen = language() === "zh" ? "en" : "zh";
  applyLanguage(languageChosen);
});
$("device-check").addEventListener("click", checkDevices);
$("use-voice").addEventListener("click", () => useLighterMode("voice"));
$("use-text").addEventListener("click", () => useLighterMode("text"));
$("welcome-continue").addEventListener("click", leaveWelcome);
for (const input of document.querySelectorAll("input[name=mode]")) input.addEventListener("change", () => {
  state.plannedMode = input.value;
  renderWelcome();
});
$("resume").addEventListener("click", resume);
$("device-continue").addEventListener("click", enterConsentStep);
for (const id of ["consent-recording", "consent-ai"]) $(id).addEventListener("change", renderConsentButton);
$("consent-continue").addEventListener("click", giveConsent);
$("switch-voice").addEventListener("click", () => switchMode("voice"));
$("switch-text").addEventListener("click", () => switchMode("text"));
$("media-retry").addEventListener("click", async () => {
  await hangUp();
  await connectMedia();
});
$("captions-toggle").addEventListener("click", () => {
  state.captions = !state.captions;
  remember({ captions: state.captions });
  send({ type: "captions", on: state.captions });
  renderCaptionsToggle();
});
$("practice-try").addEventListener("click", tryPractice);
$("start").addEventListener("click", startInterview);
$("reconnect-now").addEventListener("click", () => reconnect("retry"));
$("answer-done").addEventListener("click", () => {
  if (state.question) send({ type: "answer.done", question_id: state.question.question.id });
});
$("send-answer").addEventListener("click", () => {
  const text = $("answer-text").value.trim();
  if (!state.question || !text) return;
  const questionId = state.question.question.id;
  $("answer-text").disabled = $("send-answer").disabled = true;
  send({ type: "answer.text", question_id: questionId, text });
  send({ type: "answer.done", question_id: questionId });
});
$("chat-form").addEventListener("submit", sendChat);
window.addEventListener("pagehide", () => state.whip?.stop());
// Leaving the page (another tab or app) during the questions is one of HR's integrity checks, as the consent says.
document.addEventListener("visibilitychange", () => {
  if (state.started && !state.finished) send({ type: "page.visibility", hidden: document.visibilityState === "hidden" });
});

setLanguage(languageChosen ?? (document.documentElement.lang.startsWith("zh") ? "zh" : "en"));
connectSocket();
