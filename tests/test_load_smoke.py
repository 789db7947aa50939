"""The load test runs end to end at one session (a smoke test of the harness; the figures come from full runs by hand)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MODEL_DIR

pytestmark = [pytest.mark.webrtc]


def test_the_load_test_measures_one_interview_and_the_baseline(tmp_path: Path) -> None:
    out = tmp_path / "results"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtests.interview_load",
            "--sessions",
            "1",
            "--step-seconds",
            "15",
            "--baseline-sessions",
            "1",
            "--model-dir",
            str(MODEL_DIR),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads((out / "interview_load.json").read_text())
    (scoring,), (baseline,) = results["scoring"], results["baseline"]
    assert scoring["errors"] == [] and baseline["errors"] == []
    assert scoring["join_s_p50"] is not None and scoring["first_question_s_p50"] is not None
    assert scoring["video_fps_mean"] > 0 and scoring["finals"] >= 1 and scoring["final_lag_s_p95"] is not None
    # Figures, not speed: the load test reports them; only benchmarks judge them (loadtests/).
    assert scoring["server_cpu_percent_mean"] > 0 and baseline["server_cpu_percent_mean"] > 0
    by_thread = scoring["server_cpu_percent_of_core_by_thread"]
    assert (
        by_thread["event-loop"] > 0 and by_thread["transcribe"] > 0 and "transcribe" not in baseline["server_cpu_percent_of_core_by_thread"]
    )
    decodes = scoring["whisper_decodes"]
    assert decodes["finals"] + decodes["early"] >= 1 and decodes["batches"] >= 1 and baseline["whisper_decodes"] == {}
    assert (out / "interview_load.png").stat().st_size > 1000
