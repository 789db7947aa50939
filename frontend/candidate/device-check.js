// Before the interview: can this browser capture at all, open the devices, and show the microphone's level.

/** What the user agent says about capture: WeChat, iOS version, and whether to try the camera at all. */
export function captureSupport(userAgent = navigator.userAgent) {
  const wechat = /MicroMessenger/i.test(userAgent);
  const ios = /iPhone|iPad|iPod/.test(userAgent);
  const version = /OS (\d+)_(\d+)/.exec(userAgent);
  const iosVersion = ios && version ? [Number(version[1]), Number(version[2])] : null;
  // iOS webviews (WeChat's and every other in-app browser) only got getUserMedia in 14.3; older iOS is
  // not tried at all, since a camera that half works mid-interview is worse than writing from the start.
  const oldIos = iosVersion !== null && (iosVersion[0] < 14 || (iosVersion[0] === 14 && iosVersion[1] < 3));
  const hasGetUserMedia = typeof navigator.mediaDevices?.getUserMedia === "function";
  return { wechat, ios, iosVersion, canCapture: hasGetUserMedia && !oldIos };
}

// Plain (ideal) values, never `exact`: a webview that cannot turn its processing off (WeChat's X5/XWeb,
// WKWebView) must still open the microphone rather than fail with OverconstrainedError.
// Echo cancellation off: the page plays no sound, so there is no echo to cancel, and turning it on sends
// capture through the phone's voice-call processing. Noise suppression and automatic gain off: they change
// the levels and spectra the analysis (voice activity, pauses, the level meter) measures (WEBRTC.md, gotcha 6).
const AUDIO = { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 };
// The server looks at 5 frames a second and HR sees a still a second, so 15 is plenty: half the upload of 30
// on a candidate's mobile network, and half the decoding on the server (see README, Load test).
export const VIDEO_FPS = 15;
const VIDEO = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: VIDEO_FPS }, facingMode: "user" };

export class DeviceError extends Error {
  constructor(kind, device, cause, audioOnly = null) {
    super(cause?.message || kind);
    this.kind = kind; // denied | missing | busy | failed
    this.device = device; // camera | microphone | camera_and_microphone
    this.audioOnly = audioOnly; // a microphone-only stream when just the camera failed
  }
}

function kindOf(error) {
  switch (error?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "denied";
    case "NotFoundError":
    case "OverconstrainedError":
      return "missing";
    case "NotReadableError":
    case "AbortError":
      return "busy";
    default:
      return "failed";
  }
}

/** Open the microphone (and the camera for a video interview); a DeviceError says which one failed and why. */
export async function openDevices(withVideo) {
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: AUDIO, video: withVideo ? VIDEO : false });
  } catch (error) {
    if (!withVideo) throw new DeviceError(kindOf(error), "microphone", error);
    // Which device was it? Try the microphone alone: if that opens, the camera is the problem.
    try {
      const audioOnly = await navigator.mediaDevices.getUserMedia({ audio: AUDIO, video: false });
      throw new DeviceError(kindOf(error), "camera", error, audioOnly);
    } catch (second) {
      if (second instanceof DeviceError) throw second;
      throw new DeviceError(kindOf(error), "camera_and_microphone", error);
    }
  }
}

/** The microphone's loudness through a WebAudio AnalyserNode: `level` 0–1 and `dbfs`, polled every 100 ms. */
export class LevelMeter {
  constructor(stream, onLevel) {
    const Context = window.AudioContext || window.webkitAudioContext;
    this.context = new Context();
    // iOS and WeChat start audio contexts suspended unless resumed inside the tap that created them.
    this.context.resume?.();
    this.source = this.context.createMediaStreamSource(stream);
    this.analyser = this.context.createAnalyser();
    this.analyser.fftSize = 2048;
    this.source.connect(this.analyser);
    this.samples = new Float32Array(this.analyser.fftSize);
    this.dbfs = -100;
    this.peakDbfs = -100;
    // A timer, not requestAnimationFrame: the meter keeps measuring while the tab is in the background.
    this.timer = setInterval(() => {
      this.analyser.getFloatTimeDomainData(this.samples);
      let sum = 0;
      for (const s of this.samples) sum += s * s;
      const rms = Math.sqrt(sum / this.samples.length);
      this.dbfs = rms > 0 ? Math.max(-100, 20 * Math.log10(rms)) : -100;
      this.peakDbfs = Math.max(this.peakDbfs, this.dbfs);
      onLevel(this.level, this.dbfs);
    }, 100);
  }

  /** -60 dBFS (silence) … 0 dBFS mapped onto 0 … 1. */
  get level() {
    return Math.min(1, Math.max(0, (this.dbfs + 60) / 60));
  }

  close() {
    clearInterval(this.timer);
    this.source.disconnect();
    this.context.close().catch(() => {});
  }
}
