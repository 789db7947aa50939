"""The capacity model: an interview's cost is what one more adds, and the node carries what its scarcest resource allows."""

from __future__ import annotations

import json
from pathlib import Path

from loadtests.capacity_model import Costs, Node, check, predict, slope


def test_the_cost_of_an_interview_leaves_out_the_idle_nodes_own_floor() -> None:
    # 20 % of a core idle, 10 % more per interview
    assert abs(slope([(2, 40.0), (4, 60.0), (6, 80.0)]) - 10.0) < 1e-9
    assert slope([(4, 40.0)]) == 10.0  # a single step: its mean per interview
    assert slope([(4, 60.0), (6, 50.0)]) == (15.0 + 50 / 6) / 2  # noise that says "cheaper with more": the mean


def test_the_node_carries_what_its_scarcest_resource_allows_and_says_which() -> None:
    costs = Costs(cpu=20.0, event_loop=4.0, recogniser=0.07, decodes_per_s=0.5, source="x", steps=[4])
    two_cores = predict(costs, Node(cores=2, workers=1))
    assert two_cores["binds_first"] == "cores" and two_cores["interviews"] == 7  # 140 % usable / 20 %
    big = predict(costs, Node(cores=64, workers=1))
    assert big["binds_first"] == "recogniser" and big["interviews"] == 10  # one worker's recogniser: 0.7 / 0.07
    workers = predict(costs, Node(cores=64, workers=64))
    assert workers["binds_first"] == "cores" and workers["interviews"] == 224
    gpu = predict(costs, Node(cores=64, workers=64, gpu_ms_per_decode=20.0))
    assert gpu["binds_first"] == "gpu" and gpu["interviews"] == 70  # 700 ms/s / (0.5 decodes/s x 20 ms)
    # One recogniser for 64 workers on the CPU decodes on 1 / 0.17 cores at most: 2.94 workers' lanes of two threads.
    shared = predict(costs, Node(cores=64, workers=64, shared_recogniser=True))
    assert shared["binds_first"] == "recogniser" and shared["interviews"] == 29  # 2.94 x 0.7 / 0.07
    shared_gpu = predict(costs, Node(cores=64, workers=64, gpu_ms_per_decode=20.0, shared_recogniser=True))
    assert shared_gpu["binds_first"] == "gpu" and "recogniser" not in shared_gpu["by_resource"]  # feeding the GPU


def test_a_check_compares_the_prediction_with_the_capacity_the_run_measured(tmp_path: Path) -> None:
    step = {"keeps_up": True, "server_cpu_percent_of_core_by_thread": {"event-loop": 10.0, "transcribe": 30.0}, "node_load": {}}
    results = {
        "machine": "2 CPU cores",
        "capacity": 4,
        "capacity_bound": "found",
        "step_seconds": 40,
        "scoring": [
            {**step, "sessions": 2, "server_cpu_percent_of_core_by_thread": {"event-loop": 10.0, "transcribe": 30.0}},
            {**step, "sessions": 4, "server_cpu_percent_of_core_by_thread": {"event-loop": 20.0, "transcribe": 60.0}},
            {"sessions": 6, "keeps_up": False},
        ],
    }
    path = tmp_path / "run.json"
    path.write_text(json.dumps(results))
    checked = check(path)
    assert checked["cost_per_interview"]["cpu_percent_of_core"] == 20.0
    assert checked["predicted"] == 7 and checked["measured"] == 4 and checked["error"] == 0.75
