"""HR's access to an interview's audio recordings (one file a media session), for playback beside the transcript."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse

from server.live.sessions import recordings_dir
from server.web.api import _interview_for_hr
from server.web.problems import Problem

RECORDING_NAME = re.compile(r"^[0-9]{1,12}-[0-9a-f]{8}\.ogg$")


async def list_recordings(request: Request) -> JSONResponse:
    """Each recording with where it starts on the interview's clock (transcript and answer times use that clock)."""
    services, interview = await _interview_for_hr(request)
    recordings = await services.store.recordings(interview.id)
    base = f"/api/v1/interviews/{interview.id}/recordings"
    listing = [{**r.model_dump(), "url": f"{base}/{r.name}", "media_type": "audio/ogg"} for r in recordings]
    return JSONResponse({"recordings": listing})


async def get_recording(request: Request) -> FileResponse:
    services, interview = await _interview_for_hr(request)
    name = request.path_params["name"]
    known = {r.name for r in await services.store.recordings(interview.id)} if RECORDING_NAME.match(name) else set()
    path = recordings_dir(services.settings, interview.id) / name
    if name not in known:
        raise Problem(404, "recording_not_found", f"no recording {name!r} of this interview")
    if not path.is_file():
        # The list is shared by the cluster (with the Redis store); the audio stays on the disk of the node that recorded it.
        raise Problem(404, "recording_not_on_this_node", f"recording {name!r} is kept on the node that recorded it, not on this one")
    return FileResponse(path, media_type="audio/ogg", headers={"Cache-Control": "private, no-store"})
