"""WHIP as other clients speak it, in Chromium: a WHIP browser library published by someone else publishes an
interview's media; and the candidate page restarts ICE on a live session (RFC 9725 section 4.3.2), keeping its media.

Outside clients tried (README: WHIP): Eyevinn's @eyevinn/whip-web-client from the npm registry, here. Not
installable from the registries on Debian 12: simple-whip-client (aborts on start, libsoup2/libsoup3 clash), GStreamer's
whipsink (the Rust plugins are not packaged), OBS (its Debian 12 version predates WHIP output).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, Route

from loadtests.whip_client import give_consent
from server.rtc.ice_restart import ice_connections
from tests.conftest import LiveServer
from tests.helpers.browser import logged_page
from tests.helpers.candidate_page import start_interview
from tests.helpers.waiting import eventually, wait_until
from tests.helpers.webrtc import CapturingConsumer

pytestmark = [pytest.mark.webrtc, pytest.mark.browser]

CLIENTS = Path(os.environ.get("INTERVIEW_TEST_CLIENTS_DIR", Path(__file__).resolve().parents[1] / "data" / "test-clients"))
INTEROP = "/whip-interop/"

# The library as published (its CommonJS build) and the two packages it requires, loaded by a CommonJS loader of a
# few lines instead of a bundler: nothing of the library is changed.
INTEROP_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>WHIP interop</title></head><body>
<script>
const MAIN = {"events": "events/events.js", "sdp-transform": "sdp-transform/lib/index.js"};
async function loadWhipClient() {
  const files = ["events/events.js", "sdp-transform/lib/index.js", "sdp-transform/lib/parser.js",
    "sdp-transform/lib/writer.js", "sdp-transform/lib/grammar.js", "whip-web-client/whip-client.js"];
  const sources = {};
  for (const f of files) sources[f] = await (await fetch("/whip-interop/" + f)).text();
  const cache = {};
  const resolve = (from, name) => MAIN[name] ||
    (from.slice(0, from.lastIndexOf("/") + 1) + name.replace(/^\\.\\//, "") + (name.endsWith(".js") ? "" : ".js"));
  const load = (path) => {
    if (cache[path]) return cache[path].exports;
    const module = (cache[path] = { exports: {} });
    new Function("module", "exports", "require", sources[path])(module, module.exports, (name) => load(resolve(path, name)));
    return module.exports;
  };
  return load("whip-web-client/whip-client.js").WHIPClient;
}
window.publish = async (endpoint, token) => {
  const WHIPClient = await loadWhipClient();
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  window.client = new WHIPClient({ endpoint, opts: { authkey: token, iceServers: [], debug: true } });
  await window.client.ingest(stream);
};
</script></body></html>"""


SELECTED_PAIR = """async () => {
  let transport = null; const pairs = {};
  (await window.interview.pc.getStats()).forEach((r) => {
    if (r.type === 'transport') transport = r;
    if (r.type === 'candidate-pair') pairs[r.id] = r;
  });
  const p = transport && pairs[transport.selectedCandidatePairId];
  return p ? { id: p.id, state: p.state, responsesReceived: p.responsesReceived } : null;
}"""


@pytest.fixture
async def browser_page(speech_wav: Path, face_y4m: Path) -> AsyncIterator[Page]:
    async with logged_page(speech_wav, face_y4m) as page:
        yield page


async def serve_interop_page(page: Page, server: LiveServer) -> None:
    """The test page and the library, on the server's origin (so the library's requests are same-origin, as on a
    company's own page), answered by the test rather than the server."""
    if not (CLIENTS / "whip-web-client" / "whip-client.js").is_file():
        pytest.fail(f"no WHIP clients in {CLIENTS}: run python -m tests.tools.prepare_whip_clients (scripts/test.sh does)")

    async def answer(route: Route) -> None:
        name = route.request.url.split(INTEROP, 1)[1]
        if name == "index.html":
            await route.fulfill(body=INTEROP_PAGE, content_type="text/html")
            return
        file = (CLIENTS / name).resolve()
        assert file.is_relative_to(CLIENTS.resolve()) and file.is_file(), name
        await route.fulfill(body=file.read_bytes(), content_type="text/javascript")

    await page.route(f"{server.url}{INTEROP}**", answer)


async def test_eyevinns_whip_web_client_from_npm_publishes_an_interviews_audio_and_video(
    capturing_server: LiveServer, capture: CapturingConsumer, browser_page: Page
) -> None:
    server = capturing_server
    interview, token = await server.schedule()
    await give_consent(server.http, f"{server.url}/api/v1/interviews/{interview.id}", token)
    await serve_interop_page(browser_page, server)
    await browser_page.goto(f"{server.url}{INTEROP}index.html")

    endpoint = f"{server.url}/api/v1/interviews/{interview.id}/whip"
    await browser_page.evaluate("([endpoint, token]) => window.publish(endpoint, token)", [endpoint, token])
    await browser_page.wait_for_function("window.client.getICEConnectionState() === 'connected'", timeout=20_000)
    await wait_until(lambda: bool(capture.ingests), timeout=15, what="the server's ingest")
    ingest = capture.ingests[0]
    await wait_until(lambda: ingest.stats.video_frames >= 30 and ingest.stats.audio_seconds >= 2, timeout=20, what="media decoded")
    print(f"\nEyevinn whip-web-client: {ingest.stats.video_frames} frames, {ingest.stats.audio_seconds:.1f} s of audio decoded")
    resource = await browser_page.evaluate("window.client.getResourceUrl()")
    assert resource.startswith(f"{endpoint}/"), "the Location of the 201, as the client resolved it"
    assert server.services.registry.media_sessions == 1

    await browser_page.evaluate("window.client.destroy()")  # DELETE on the session resource
    await wait_until(lambda: server.services.registry.media_sessions == 0, what="the session hung up")


async def test_the_candidate_page_restarts_ice_on_its_session_and_the_media_goes_on(
    capturing_server: LiveServer, capture: CapturingConsumer, browser_page: Page
) -> None:
    server = capturing_server
    interview, token = await server.schedule()
    await browser_page.goto(f"{server.url}/i/{token}")
    await start_interview(browser_page)
    await browser_page.wait_for_function("window.interview.pc && window.interview.pc.connectionState === 'connected'", timeout=20_000)
    await wait_until(lambda: bool(capture.ingests) and capture.ingests[0].stats.video_frames >= 15, timeout=20, what="video")
    session_url = await browser_page.evaluate("window.interview.sessionUrl")
    first_etag = await browser_page.evaluate("window.interview.whip.etag")
    media = server.services.registry.media_of(interview.id)
    assert media is not None
    [agent] = ice_connections(media.pc)
    first_ufrag = agent.local_username

    first_pair = await browser_page.evaluate(SELECTED_PAIR)
    await browser_page.evaluate("window.interview.whip.restartIce()")

    # The browser moves to a pair checked under the new credentials (it controls the checks; the old pair's checks
    # were made with the old ones), and our agent answered them.
    async def moved_to_a_new_pair() -> bool:
        pair = await browser_page.evaluate(SELECTED_PAIR)
        return pair is not None and pair["id"] != first_pair["id"] and pair["state"] == "succeeded" and pair["responsesReceived"] > 0

    await eventually(moved_to_a_new_pair, timeout=15, what="a candidate pair checked under the new credentials")
    local_ufrag = await browser_page.evaluate(r"/a=ice-ufrag:(\S+)/.exec(window.interview.pc.localDescription.sdp)[1]")
    remote_ufrag = await browser_page.evaluate(r"/a=ice-ufrag:(\S+)/.exec(window.interview.pc.remoteDescription.sdp)[1]")
    assert agent.remote_username == local_ufrag, "the server's ICE agent took the browser's new credentials"
    assert agent.local_username == remote_ufrag != first_ufrag, "and the browser took the server's new ones"
    assert await browser_page.evaluate("window.interview.whip.etag") not in (first_etag, None), "a new ICE session's tag"
    assert await browser_page.evaluate("window.interview.sessionUrl") == session_url, "the same WHIP session"
    assert server.services.registry.media_of(interview.id) is media and len(capture.ingests) == 1

    # Checks under the new credentials carry on: the browser's ICE transport reports them, and media keeps arriving.
    transport = await browser_page.evaluate(
        """async () => { let t = null; (await window.interview.pc.getStats()).forEach((r) => { if (r.type === 'transport') t = r; });
                   return { ufrag: t.iceLocalUsernameFragment, state: t.iceState }; }"""
    )
    assert transport == {"ufrag": local_ufrag, "state": "connected"}, transport
    before = capture.ingests[0].stats.video_frames
    await wait_until(lambda: capture.ingests[0].stats.video_frames >= before + 30, timeout=15, what="video after the restart")
    assert await browser_page.evaluate("window.interview.errors.filter((e) => e.code === 'ice-restart')") == []
