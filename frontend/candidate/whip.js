// A WHIP (RFC 9725) publisher: POST the offer, PATCH trickled candidates (naming the ICE session in If-Match),
// PATCH to restart ICE when the network changes, DELETE to hang up.

const TRICKLE = "application/trickle-ice-sdpfrag";

export class WhipPublisher {
  constructor(endpoint, token) {
    this.endpoint = endpoint;
    this.token = token;
    this.resource = null;
    this.etag = null; // the ICE session's entity-tag: from the answer, then from each ICE restart
    this.restarting = false;
    this.pending = [];
    this.endOfCandidates = false;
  }

  headers(contentType) {
    const h = { Authorization: `Bearer ${this.token}` };
    if (contentType) h["Content-Type"] = contentType;
    return h;
  }

  // Publishes `stream` on `pc`; `videoCodec` ("h264", "vp8" or null) is put first when the browser allows;
  // video goes at most `maxFramerate` frames a second, whatever the camera gives.
  async publish(pc, stream, videoCodec, maxFramerate) {
    this.pc = pc;
    pc.addEventListener("icecandidate", (event) => this.onCandidate(event.candidate));
    for (const track of stream.getTracks()) {
      const init = { direction: "sendonly", streams: [stream] };
      if (track.kind === "video" && maxFramerate) init.sendEncodings = [{ maxFramerate }];
      const transceiver = pc.addTransceiver(track, init);
      if (track.kind === "video" && videoCodec) preferCodec(transceiver, `video/${videoCodec}`);
    }
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const response = await fetch(this.endpoint, { method: "POST", headers: this.headers("application/sdp"), body: offer.sdp });
    if (response.status !== 201) {
      const [detail, code] = await problem(response);
      throw new WhipError(response.status, detail, code, Number(response.headers.get("Retry-After")) || null);
    }
    this.resource = new URL(response.headers.get("Location"), this.endpoint).toString();
    this.etag = response.headers.get("ETag");
    const iceServers = parseIceServerLinks(response.headers.get("Link"));
    // The page asks for its ICE servers before it connects; these are for a publisher that did not.
    if (iceServers.length && !pc.getConfiguration().iceServers?.length) pc.setConfiguration({ ...pc.getConfiguration(), iceServers });
    await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
    await this.flush();
  }

  onCandidate(candidate) {
    if (candidate === null) this.endOfCandidates = true;
    else if (candidate.candidate) this.pending.push(candidate);
    if (this.resource && !this.restarting) this.flush();
  }

  // Sends the candidates gathered so far as one trickle-ICE fragment (RFC 8840).
  async flush() {
    const pc = this.pc;
    if (!this.resource || this.restarting || (!this.pending.length && !this.endOfCandidates)) return;
    const batch = this.pending.splice(0);
    const end = this.endOfCandidates;
    this.endOfCandidates = false;
    const lines = [];
    const local = pc.localDescription.sdp;
    lines.push(`a=ice-ufrag:${/a=ice-ufrag:(\S+)/.exec(local)[1]}`, `a=ice-pwd:${/a=ice-pwd:(\S+)/.exec(local)[1]}`);
    const byMid = new Map();
    for (const c of batch) {
      if (!byMid.has(c.sdpMid)) byMid.set(c.sdpMid, []);
      byMid.get(c.sdpMid).push(c);
    }
    for (const [mid, candidates] of byMid) {
      lines.push("m=audio 9 UDP/TLS/RTP/SAVPF 0", `a=mid:${mid}`);
      for (const c of candidates) lines.push(`a=${c.candidate}`);
    }
    if (end) lines.push("a=end-of-candidates");
    // Never "*" here: that would ask for an ICE restart. Without a tag the server says 428, and ICE goes on without these.
    const headers = this.etag ? { ...this.headers(TRICKLE), "If-Match": this.etag } : this.headers(TRICKLE);
    // 412: an ICE restart overtook these candidates; they belong to the ICE session it replaced.
    await fetch(this.resource, { method: "PATCH", headers, body: lines.join("\r\n") + "\r\n" });
  }

  // Restarts ICE on the same WHIP session (RFC 9725 section 4.3.2): new credentials both sides, the same media and
  // recording. Candidates gathered meanwhile wait for the new ICE session's entity-tag.
  async restartIce() {
    const pc = this.pc;
    if (!this.resource) throw new Error("no WHIP session to restart");
    this.restarting = true;
    this.pending = [];
    this.endOfCandidates = false;
    try {
      pc.restartIce();
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      const mid = /a=mid:(\S+)/.exec(offer.sdp)[1];
      const body = [
        `a=ice-ufrag:${/a=ice-ufrag:(\S+)/.exec(offer.sdp)[1]}`,
        `a=ice-pwd:${/a=ice-pwd:(\S+)/.exec(offer.sdp)[1]}`,
        "m=audio 9 UDP/TLS/RTP/SAVPF 0",
        `a=mid:${mid}`,
      ].join("\r\n") + "\r\n";
      const response = await fetch(this.resource, { method: "PATCH", headers: { ...this.headers(TRICKLE), "If-Match": "*" }, body });
      if (response.status !== 200) throw new WhipError(response.status, ...(await problem(response)));
      this.etag = response.headers.get("ETag");
      await pc.setRemoteDescription({ type: "answer", sdp: withIce(pc.remoteDescription.sdp, await response.text()) });
    } finally {
      this.restarting = false;
    }
    await this.flush();
  }

  async stop() {
    if (!this.resource) return;
    const resource = this.resource;
    this.resource = null;
    // keepalive: the hang-up still goes out when the page is being closed or reloaded.
    await fetch(resource, { method: "DELETE", headers: this.headers(), keepalive: true }).catch(() => {});
  }
}

// The previous answer with the ICE credentials and candidates of a restart's trickle-ICE fragment in every section.
function withIce(answer, fragment) {
  const lines = fragment.split(/\r?\n/);
  const ufrag = lines.find((l) => l.startsWith("a=ice-ufrag:"));
  const pwd = lines.find((l) => l.startsWith("a=ice-pwd:"));
  const candidates = lines.filter((l) => l.startsWith("a=candidate:") || l === "a=end-of-candidates");
  const out = [];
  for (const line of answer.split(/\r?\n/)) {
    if (!line || line.startsWith("a=candidate:") || line === "a=end-of-candidates") continue;
    if (line.startsWith("a=ice-ufrag:")) out.push(ufrag);
    else if (line.startsWith("a=ice-pwd:")) out.push(pwd);
    else out.push(line);
    if (line.startsWith("a=mid:")) out.push(...candidates);
  }
  return out.join("\r\n") + "\r\n";
}

export class WhipError extends Error {
  // retryAfter: seconds the server asked us to wait (Retry-After), or null.
  constructor(status, detail, code = null, retryAfter = null) {
    super(`WHIP ${status}: ${detail}`);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

function preferCodec(transceiver, mimeType) {
  if (!transceiver.setCodecPreferences || !window.RTCRtpReceiver?.getCapabilities) return;
  const codecs = RTCRtpReceiver.getCapabilities("video").codecs;
  const wanted = mimeType.toLowerCase();
  const first = codecs.filter((c) => c.mimeType.toLowerCase() === wanted);
  if (!first.length) return;
  const rest = codecs.filter((c) => c.mimeType.toLowerCase() !== wanted);
  transceiver.setCodecPreferences([...first, ...rest]);
}

/** [detail, code] of a problem document (RFC 9457), or the status text. */
async function problem(response) {
  try {
    const body = await response.json();
    return [body.detail || body.title || response.statusText, body.code ?? null];
  } catch {
    return [response.statusText, null];
  }
}

// Link: <turn:turn.example.com>; rel="ice-server"; username="u"; credential="p"
function parseIceServerLinks(header) {
  if (!header) return [];
  const servers = [];
  for (const part of header.split(/,(?=\s*<)/)) {
    const url = /<([^>]+)>/.exec(part);
    if (!url || !/rel="ice-server"/.test(part)) continue;
    const server = { urls: url[1] };
    const user = /username="([^"]*)"/.exec(part);
    const cred = /credential="([^"]*)"/.exec(part);
    if (user) server.username = user[1];
    if (cred) server.credential = cred[1];
    servers.push(server);
  }
  return servers;
}
