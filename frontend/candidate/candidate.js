// The candidate's interview page: consent, camera and microphone, WHIP publish, questions over the websocket.
import { WhipPublisher } from "./whip.js";

const $ = (id) => document.getElementById(id);
const token = decodeURIComponent(location.pathname.split("/").pop());
const interviewId = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub;
const params = new URLSearchParams(location.search);

// Exposed for support tooling and end-to-end tests: what the page has seen.
const state = (window.interview = { interviewId, messages: [], pc: null, question: null, errors: [] });

let socket;

function connectSocket() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/interviews/${interviewId}?token=${encodeURIComponent(token)}`);
  socket.addEventListener("message", (event) => onMessage(JSON.parse(event.data)));
  socket.addEventListener("close", (event) => {
    if (event.code !== 1000) $("greeting").textContent = `Connection to the interview closed (${event.code}).`;
  });
}

function send(message) {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ v: 1, ...message }));
}

function onMessage(message) {
  state.messages.push({ at: performance.now(), ...message });
  switch (message.type) {
    case "hello":
      state.mode = message.interview.mode;
      $("job-title").textContent = message.interview.job_title;
      $("greeting").textContent = `Welcome, ${message.interview.candidate_name}.`;
      $("consent-text").textContent = CONSENT[state.mode] ?? CONSENT.video;
      break;
    case "media":
      $("media-state").textContent = { connected: "connected", connecting: "connecting…" }[message.state] ?? message.state;
      $("media-state").className = `badge ${message.state}`;
      break;
    case "levels":
      $("server-level").textContent = `The server hears ${message.audio_rms_dbfs > -60 ? "you" : "silence"} · ${message.video_fps.toFixed(0)} fps`;
      break;
    case "caption":
      showCaption(message);
      break;
    case "question":
      state.question = message;
      state.finalText = "";
      $("caption-final").textContent = $("caption-stable").textContent = $("caption-unstable").textContent = "";
      $("waiting").hidden = true;
      $("question-box").hidden = false;
      $("question-progress").textContent =
        `${message.question.follow_up ? "Follow-up · " : ""}Question ${message.index + 1} of up to ${message.total}`;
      $("question-text").textContent = message.question.text;
      $("answer-text").value = "";
      $("answer-text").disabled = $("send-answer").disabled = false;
      break;
    case "completed":
      finish();
      break;
    case "error":
      state.errors.push(message);
      console.warn("interview server:", message.code, message.message);
      break;
  }
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

const CONSENT = {
  video: "This interview records your answers through your camera and microphone. The server transcribes what you say and checks that your face is visible, so the company can review your answers.",
  voice: "This interview records your answers through your microphone. The server transcribes what you say, so the company can review your answers.",
  text: "You answer each question in writing. Your answers are scored against the job's key points, so the company can review them.",
};

async function start() {
  $("start").disabled = true;
  if (state.mode === "text") {
    $("consent-step").hidden = true;
    $("interview-step").hidden = false;
    $("preview").hidden = $("status-line").hidden = $("answer-done").hidden = true;
    $("text-answer").hidden = false;
    send({ type: "ready" });
    return;
  }
  let stream;
  try {
    // Browser voice processing changes levels and spectra the analysis relies on.
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 },
      video: state.mode === "voice" ? false : { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 }, facingMode: "user" },
    });
  } catch (error) {
    $("device-error").hidden = false;
    $("device-error").textContent = `Camera or microphone not available: ${error.message}`;
    $("start").disabled = false;
    return;
  }
  $("consent-step").hidden = true;
  $("interview-step").hidden = false;
  $("preview").srcObject = stream;
  $("preview").hidden = state.mode === "voice";

  const pc = (state.pc = new RTCPeerConnection({ iceServers: [] }));
  pc.addEventListener("connectionstatechange", () => {
    if (pc.connectionState === "connected") state.connectedAt = performance.now();
    if (pc.connectionState === "failed") $("media-state").textContent = "connection failed";
  });
  const whip = (state.whip = new WhipPublisher(`${location.origin}/api/v1/interviews/${interviewId}/whip`, token));
  const codec = params.get("codec") ?? (/iPhone|iPad|iPod/.test(navigator.userAgent) ? "h264" : null);
  try {
    await whip.publish(pc, stream, codec);
  } catch (error) {
    state.errors.push({ code: "whip", message: error.message });
    $("media-state").textContent = error.message;
    $("media-state").className = "badge failed";
  }
}

function finish() {
  $("interview-step").hidden = true;
  $("done-step").hidden = false;
  state.pc?.getSenders().forEach((sender) => sender.track?.stop());
  state.pc?.close();
}

$("consent").addEventListener("change", (event) => ($("start").disabled = !event.target.checked));
$("start").addEventListener("click", start);
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
window.addEventListener("pagehide", () => state.whip?.stop());
connectSocket();
