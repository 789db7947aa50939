"""How many sessions the node's cores carry (server/ops/cpu_headroom.py): counting ahead of the strain that the other
load signals see only once it has begun. Driven by counters and a clock of the test's own, and once on this machine."""

from __future__ import annotations

import time

from server.ops.cpu_headroom import COST_MEMORY_S, SAMPLE_S, WINDOW_S, CpuHeadroom, SiblingCpu, machine_headroom
from server.ops.node_load import LoadLevel, LoadThresholds, NodeLoad


class Machine:
    """Two cores' counters: every second, `others` cores used by other processes and `idle_own` plus `per_session`
    per session by the node."""

    def __init__(self, *, others: float = 0.0, idle_own: float = 0.05, per_session: float = 0.2) -> None:
        self.others, self.idle_own, self.per_session = others, idle_own, per_session
        self.sessions = 0
        self.busy_s = self.own_s = 0.0
        self.now = 0.0
        self.headroom = CpuHeadroom(2, 0.8, 0.25, busy_s=lambda: self.busy_s, own_s=lambda: self.own_s)

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds / SAMPLE_S)):
            own = self.idle_own + self.sessions * self.per_session
            self.own_s += own * SAMPLE_S
            self.busy_s += (own + self.others) * SAMPLE_S
            self.now += SAMPLE_S
            self.headroom.sample(self.now, self.sessions)

    def capacity(self) -> int:
        return self.headroom.reading(self.sessions).capacity


def test_before_it_has_measured_a_session_the_node_counts_each_at_the_configured_cost() -> None:
    machine = Machine()
    machine.run(WINDOW_S)
    reading = machine.headroom.reading(0)
    assert not reading.measured and reading.session_cost_cores == 0.25
    assert reading.usable_cores == 1.6
    assert machine.capacity() == 6, "(1.6 usable - 0.05 busy) / 0.25 a session"


def test_candidates_arriving_together_are_admitted_only_as_far_as_the_cores_go() -> None:
    machine = Machine()
    machine.run(WINDOW_S)
    admitted = 0
    for _ in range(10):  # a slot's candidates, within a second: none of them shows in the busy cores yet
        if machine.headroom.admits(machine.sessions):
            machine.sessions += 1
            admitted += 1
    assert admitted == 6


def test_the_node_learns_what_its_own_sessions_cost_less_what_it_uses_idle() -> None:
    machine = Machine(per_session=0.15)
    machine.run(WINDOW_S)  # idle: 0.05 of a core for the node's own timers
    machine.sessions = 4
    machine.run(WINDOW_S + 1)
    reading = machine.headroom.reading(4)
    assert reading.measured
    assert abs(reading.session_cost_cores - 0.15) < 0.01
    assert machine.capacity() == 10, "4 + (1.6 - 0.65) / 0.15"


def test_other_processes_on_the_same_cores_leave_room_for_fewer_sessions() -> None:
    alone, crowded = Machine(), Machine(others=0.8)
    for machine in (alone, crowded):
        machine.sessions = 2
        machine.run(WINDOW_S + 1)
    assert crowded.capacity() < alone.capacity()
    assert crowded.capacity() == 3, "2 + (1.6 - 0.8 - 0.45) / 0.225 (its idle use not known yet, counted with its sessions)"


def test_a_process_starting_or_a_model_loading_for_a_few_seconds_does_not_cut_the_capacity() -> None:
    machine = Machine()
    machine.run(WINDOW_S)
    machine.others, machine.idle_own = 1.5, 1.0  # a client process importing its libraries; the node loading a model
    machine.run(5)
    machine.others, machine.idle_own = 0.0, 0.05
    machine.run(5)
    assert machine.capacity() == 6
    assert machine.headroom.reading(0).busy_cores > 0.3, "the spike is in the window's mean, not in what counts"


def test_a_busy_spell_sets_the_cost_for_the_next_minutes_then_it_is_forgotten() -> None:
    machine = Machine(per_session=0.1)
    machine.run(WINDOW_S)
    machine.sessions = 3
    machine.run(WINDOW_S + 1)
    machine.per_session = 0.3  # every candidate answering at once
    machine.run(WINDOW_S)
    machine.per_session = 0.1
    machine.run(WINDOW_S)
    assert machine.headroom.session_cost()[0] > 0.25, "a quiet minute does not undo what answering costs"
    machine.run(COST_MEMORY_S + WINDOW_S)
    assert abs(machine.headroom.session_cost()[0] - 0.1) < 0.01


def test_a_worker_counts_what_its_sibling_has_just_taken_on_before_it_shows_on_the_cores() -> None:
    machine = Machine(others=0.3)  # the sibling worker, carrying one session, is one of the other processes here
    sibling = [SiblingCpu(own_cores=0.3, demand_cores=0.3)]
    machine.headroom = CpuHeadroom(2, 0.8, 0.25, busy_s=lambda: machine.busy_s, own_s=lambda: machine.own_s, siblings=lambda: sibling)
    machine.run(WINDOW_S)
    assert machine.capacity() == 5, "(1.6 - 0.3 for the sibling - 0.05 idle) / 0.25"
    sibling = [SiblingCpu(own_cores=0.3, demand_cores=0.3 + 3 * 0.25)]  # three candidates placed there a moment ago
    assert machine.capacity() == 2


def test_a_full_node_at_ok_load_still_refuses_what_its_cores_cannot_take_and_says_why() -> None:
    machine = Machine()
    load = NodeLoad(64, LoadThresholds(), sessions=lambda: machine.sessions, cpu=machine.headroom)
    machine.run(WINDOW_S)
    machine.sessions = 7
    machine.run(WINDOW_S + 1)
    assert load.level == LoadLevel.OK and not load.admits() and not load.accepting
    assert load.admits(resuming=True), "a candidate coming back to an interview under way is taken whatever the cores"
    info = load.info()
    assert info["cpu_session_capacity"] == 7 and info["cpu_usable_cores"] == 1.6 and info["cpu_cost_measured"] is True
    machine.sessions = 6
    assert load.admits()


def test_this_machine_s_counters_see_this_process_spinning() -> None:
    headroom = machine_headroom(0.8, 0.25)
    assert headroom is not None, "this machine's /proc/stat (or cgroup) tells how busy its cores are"
    started, cpu_at_start = time.monotonic(), time.process_time()
    headroom.sample(started, 0)
    # Half a second of CPU, however long a busy machine takes to give it (a wall-clock spin would measure the machine).
    while time.process_time() - cpu_at_start < 0.5 and time.monotonic() - started < 30:
        pass
    ended = max(time.monotonic(), started + 1.0)
    headroom.sample(ended, 0)
    reading = headroom.reading(0)
    spun_s = reading.own_cores * (ended - started)
    assert 0.45 <= spun_s <= 1.5, reading
    assert reading.busy_cores >= 0.9 * reading.own_cores, reading
    assert reading.usable_cores > 0
