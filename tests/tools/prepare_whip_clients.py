"""WHIP clients written elsewhere, for the interop tests: taken from the npm registry at setup, integrity-checked
(frontend/vendor.py does the fetching), never committed.

    python -m tests.tools.prepare_whip_clients DIRECTORY

- @eyevinn/whip-web-client 1.1.7 (Apache-2.0), Eyevinn Technology's WHIP browser library, as published: its CommonJS
  build, with the two packages it requires (events 3.3.0, sdp-transform 2.15.0, both MIT), which the test page loads
  with a CommonJS loader of a few lines instead of a bundler.
"""

from __future__ import annotations

import sys
from pathlib import Path

from frontend.vendor import VendorPackage, prepare_assets

EYEVINN = "whip-web-client"
PACKAGES = [
    VendorPackage(
        name="@eyevinn/whip-web-client",
        version="1.1.7",
        integrity="sha512-3sTRwe6NHnvCsD63z5DZ10kQYlGqcVF1YXavIYzfj5bAWAWw5QCQ5uQq9d0phpEx1o6YmRsrU/a+A8A5Y2p4Gw==",
        files={"package/dist/whip-client.js": f"{EYEVINN}/whip-client.js", "package/LICENSE": f"{EYEVINN}/LICENSE"},
        licence="Apache-2.0",
    ),
    VendorPackage(
        name="events",
        version="3.3.0",
        integrity="sha512-mQw+2fkQbALzQ7V0MY0IqdnXNOeTtP4r0lN9z7AAawCXgqea7bDii20AYrIBrFd/Hx0M2Ocz6S111CaFkUcb0Q==",
        files={"package/events.js": "events/events.js", "package/LICENSE": "events/LICENSE"},
        licence="MIT",
    ),
    VendorPackage(
        name="sdp-transform",
        version="2.15.0",
        integrity="sha512-KrOH82c/W+GYQ0LHqtr3caRpM3ITglq3ljGUIb8LTki7ByacJZ9z+piSGiwZDsRyhQbYBOBJgr2k6X4BZXi3Kw==",
        files={
            **{f"package/lib/{name}.js": f"sdp-transform/lib/{name}.js" for name in ("index", "parser", "writer", "grammar")},
            "package/LICENSE": "sdp-transform/LICENSE",
        },
        licence="MIT",
    ),
]


def main(argv: list[str]) -> None:
    directory = Path(argv[0]) if argv else Path("data/test-clients")
    prepared = prepare_assets(directory, packages=PACKAGES)
    print(f"WHIP clients in {directory}: " + (", ".join(prepared) + " fetched" if prepared else "already there"))


if __name__ == "__main__":
    main(sys.argv[1:])
