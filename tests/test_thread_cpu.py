"""CPU by thread role: what the load test and /metrics report as where a node's cores go."""

from __future__ import annotations

import threading
import time

import pytest

from server.ops.thread_cpu import ThreadCpu, thread_role

pytestmark = pytest.mark.skipif(not ThreadCpu.available(), reason="needs Linux /proc")


def _burn(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("MainThread", "event-loop"),
        ("transcribe_1", "transcribe"),
        ("infer-vad_0", "infer-vad"),
        ("video-decoder", "video-decoder"),
        ("Thread-7 (decoder_worker)", "decoder_worker"),
        ("uvloop_12", "uvloop"),
    ],
)
def test_thread_names_become_roles_without_pool_indexes(name: str, role: str) -> None:
    assert thread_role(name) == role


def test_a_threads_cpu_stays_with_its_role_after_it_ends() -> None:
    cpu = ThreadCpu()
    release = threading.Event()

    def work() -> None:
        _burn(0.3)
        release.wait(10)

    thread = threading.Thread(target=work, name="burner_0")
    thread.start()
    deadline = time.monotonic() + 10
    while (while_alive := cpu.read()).get("burner", 0.0) < 0.25 and time.monotonic() < deadline:
        time.sleep(0.02)
    release.set()
    thread.join()
    after = cpu.read()
    assert while_alive["burner"] >= 0.25
    assert after["burner"] >= while_alive["burner"]
    assert all(after.get(role, 0.0) >= seconds - 1e-9 for role, seconds in while_alive.items() if role != "other")


def test_roles_add_up_to_the_process_cpu_time() -> None:
    cpu = ThreadCpu()
    _burn(0.2)
    totals = cpu.read()
    process = time.process_time()
    assert totals["event-loop"] >= 0.15
    # /proc counts in clock ticks (10 ms): allow a few ticks per thread.
    assert abs(sum(totals.values()) - process) <= 0.05 + 0.01 * threading.active_count()
