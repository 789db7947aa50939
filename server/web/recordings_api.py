"""HR's access to an interview's recordings: each answer's video and audio as received (one file a question, or more
when the candidate reconnected mid-answer), and each media session's analysis audio. Served with range requests, so
a player seeks without downloading the whole file."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse

from server.live.sessions import recordings_dir
from server.web.api import _interview_for_hr
from server.web.audit import audit, hr_actor
from server.web.context import services_of
from server.web.problems import Problem
from server.web.recording_links import RecordingLinks

RECORDING_NAME = re.compile(r"^(?:q[0-9]{2,3}-)?[0-9]{1,12}-[0-9a-f]{8}(?:-[0-9]{1,4})?\.(?:flac|ogg|webm|mp4)$")


async def list_recordings(request: Request) -> JSONResponse:
    """Each recording with where it starts on the interview's clock (transcript and answer times use that clock)."""
    services, interview = await _interview_for_hr(request)
    recordings = await services.store.recordings(interview.id)
    base = f"/api/v1/interviews/{interview.id}/recordings"
    listing = [{**r.model_dump(), "url": f"{base}/{r.name}"} for r in recordings]
    return JSONResponse({"recordings": listing})


async def get_recording(request: Request) -> FileResponse:
    """With HR's API key, or with a short-lived link to this one file (`?access=`, see recording_links.py)."""
    name = request.path_params["name"]
    access = request.query_params.get("access")
    if access is not None:
        services = services_of(request)
        interview_id = request.path_params["interview_id"]
        viewer = RecordingLinks(services.settings.signing_key()).viewer(access, interview_id, name) if len(access) <= 2048 else None
        if viewer is None:
            raise Problem(401, "invalid_link", "this link to the recording is not valid or has expired; reload the page")
        found = await services.store.get_interview(interview_id)
        if found is None:
            raise Problem(404, "interview_not_found", f"no interview {interview_id!r}")
        interview = found
    else:
        services, interview = await _interview_for_hr(request)
        viewer = hr_actor(request)
    known = {r.name: r for r in await services.store.recordings(interview.id)} if RECORDING_NAME.match(name) else {}
    path = recordings_dir(services.settings, interview.id) / name
    if name not in known:
        raise Problem(404, "recording_not_found", f"no recording {name!r} of this interview")
    if not path.is_file():
        # The list is shared by the cluster (with the Redis store); the audio stays on the disk of the node that recorded it.
        raise Problem(404, "recording_not_on_this_node", f"recording {name!r} is kept on the node that recorded it, not on this one")
    # A player fetches a file in many ranges: the first (or a whole download) is what the trail keeps.
    ranged = request.headers.get("range", "")
    if not ranged or ranged.replace(" ", "").startswith("bytes=0-"):
        await audit(
            services, interview.tenant, interview.id, viewer, "recording_downloaded" if not ranged else "recording_played", file=name
        )
    return FileResponse(path, media_type=known[name].media_type, headers={"Cache-Control": "private, no-store"})
