"""Photographs of real groups, for the face-count tests and the recognition benchmark, from a registry package:
the six demo photographs that @vladmandic/face-api 1.7.15 (MIT) ships in its npm tarball (package/demo/sample1-6.jpg:
three to five people each, indoors, some faces turned aside or tilted), integrity-checked (frontend/vendor.py does
the fetching) and never committed.

    python -m tests.tools.prepare_group_photos DIRECTORY

Each photo is written with the number of people whose face shows in it (counted by eye, COUNTS), for the tests.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from frontend.vendor import VendorPackage, prepare_assets
from tests.helpers.face_counts import COUNTS_FILE

# How many people's faces each photograph shows (counted by eye; a face at least half visible counts).
COUNTS = {"sample1.jpg": 3, "sample2.jpg": 3, "sample3.jpg": 3, "sample4.jpg": 4, "sample5.jpg": 5, "sample6.jpg": 4}
PACKAGE = VendorPackage(
    name="@vladmandic/face-api",
    version="1.7.15",
    integrity="sha512-WDMmK3CfNLo8jylWqMoQgf4nIst3M0fzx1dnac96wv/dvMTN4DxC/Pq1DGtduDk1lktCamQ3MIDXFnvrdHTXDw==",
    files={**{f"package/demo/{name}": name for name in COUNTS}, "package/LICENSE": "LICENSE"},
    licence="MIT",
)


def main(argv: list[str]) -> None:
    directory = Path(argv[0]) if argv else Path("data/test-photos")
    prepared = prepare_assets(directory, packages=[PACKAGE])
    (directory / COUNTS_FILE).write_text(json.dumps(COUNTS, indent=1) + "\n", encoding="utf-8")
    print(f"group photos in {directory}: " + (", ".join(prepared) + " fetched" if prepared else "already there"))


if __name__ == "__main__":
    main(sys.argv[1:])
