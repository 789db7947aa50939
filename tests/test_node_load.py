"""The node's load level, its admission of new interviews and the session limit it learns (server/ops/node_load.py).

These drive the probe's readings directly (`observe(lag, now)` on a clock of the test's own); the WHIP tests show a
real blocked event loop refusing a new interview."""

from __future__ import annotations

from server.ops.node_load import BEHIND_SAMPLE_SLOWDOWN, PROBE_S, LoadLevel, LoadThresholds, NodeLoad

THRESHOLDS = LoadThresholds(loop_lag_s=0.1, final_wait_s=0.5, recogniser_busy=0.75, window_s=2.0, recover_s=30.0)


class Signals:
    """What the probe reads besides the loop's lag, set by each test."""

    def __init__(self, sessions: int = 0) -> None:
        self.sessions = sessions
        self.final_wait_s = 0.0
        self.recogniser_busy = 0.0
        self.audio_dropped = 0
        self.levels: list[LoadLevel] = []

    def node_load(self, max_sessions: int = 64, *, enforce: bool = True) -> NodeLoad:
        return NodeLoad(
            max_sessions,
            THRESHOLDS,
            final_wait_s=lambda: self.final_wait_s,
            recogniser_busy=lambda: self.recogniser_busy,
            audio_dropped_total=lambda: self.audio_dropped,
            sessions=lambda: self.sessions,
            on_level=self.levels.append,
            enforce=enforce,
        )


def run_for(load: NodeLoad, seconds: float, start: float, lag_s: float = 0.0) -> float:
    """Probes every PROBE_S for `seconds` from `start`, each seeing `lag_s`; returns the clock after them."""
    now = start
    for _ in range(round(seconds / PROBE_S)):
        now += PROBE_S
        load.observe(lag_s, now)
    return now


def test_a_lagging_event_loop_stops_new_interviews_but_never_one_under_way() -> None:
    signals = Signals(sessions=3)
    load = signals.node_load()
    now = run_for(load, 3.0, 0.0)
    assert load.level == LoadLevel.OK and load.admits() and load.accepting
    now = run_for(load, 1.0, now, lag_s=0.12)
    assert load.level == LoadLevel.STRAINED
    assert not load.admits() and not load.accepting
    assert load.admits(resuming=True), "a candidate reconnecting to an interview under way is taken back"
    assert load.sample_slowdown == 1.0, "strained sheds partials only"
    assert signals.levels == [LoadLevel.STRAINED]


def test_one_slow_callback_in_a_window_is_not_strain() -> None:
    load = Signals(sessions=3).node_load()
    now = run_for(load, 3.0, 0.0)
    load.observe(0.5, now + PROBE_S)  # a single garbage-collection pause
    run_for(load, 1.0, now + PROBE_S)
    assert load.level == LoadLevel.OK and load.strains == 0


def test_the_node_comes_back_only_after_a_whole_window_of_keeping_up() -> None:
    signals = Signals(sessions=2)
    load = signals.node_load()
    now = run_for(load, 1.0, 0.0, lag_s=0.15)
    assert load.level == LoadLevel.STRAINED
    now = run_for(load, THRESHOLDS.window_s - 0.5, now)
    assert load.level == LoadLevel.STRAINED, "half a window of calm is not yet enough"
    run_for(load, 1.0, now)
    assert load.level == LoadLevel.OK
    assert signals.levels == [LoadLevel.STRAINED, LoadLevel.OK]


def test_a_final_kept_waiting_by_the_recogniser_strains_the_node_and_a_long_wait_puts_it_behind() -> None:
    signals = Signals(sessions=4)
    load = signals.node_load()
    now = run_for(load, 1.0, 0.0)
    signals.final_wait_s = 0.6
    now = run_for(load, 0.2, now)
    assert load.level == LoadLevel.STRAINED
    signals.final_wait_s = 1.2
    run_for(load, 0.2, now)
    assert load.level == LoadLevel.BEHIND
    assert load.sample_slowdown == BEHIND_SAMPLE_SLOWDOWN, "behind, faces and emotion are sampled less often"
    assert signals.levels == [LoadLevel.STRAINED, LoadLevel.BEHIND]


def test_a_recogniser_nearly_always_busy_strains_the_node_before_any_final_waits() -> None:
    signals = Signals(sessions=5)
    load = signals.node_load()
    signals.recogniser_busy = 0.7
    now = run_for(load, 1.0, 0.0)
    assert load.level == LoadLevel.OK
    signals.recogniser_busy = 0.8
    now = run_for(load, 0.2, now)
    assert load.level == LoadLevel.STRAINED and load.reading().final_wait_s == 0.0
    signals.recogniser_busy = 0.97
    run_for(load, 0.2, now)
    assert load.level == LoadLevel.BEHIND
    assert load.info()["recogniser_busy"] == 0.97


def test_a_burst_of_finals_refuses_while_it_lasts_but_teaches_no_lower_limit() -> None:
    signals = Signals(sessions=6)
    load = signals.node_load(max_sessions=10)
    now = run_for(load, 1.0, 0.0)
    signals.final_wait_s = 0.7  # every candidate of a slot hung up at once: their last finals queue together
    now = run_for(load, 0.5, now)
    assert load.level == LoadLevel.STRAINED and not load.admits()
    signals.final_wait_s = 0.0
    run_for(load, THRESHOLDS.window_s + 0.5, now)
    assert load.level == LoadLevel.OK and load.limit == 10 and load.strains == 1


def test_analysis_audio_dropped_puts_the_node_behind() -> None:
    signals = Signals(sessions=4)
    signals.audio_dropped = 7  # dropped before this probe started: not counted
    load = signals.node_load()
    now = run_for(load, 1.0, 0.0)
    assert load.level == LoadLevel.OK
    signals.audio_dropped = 9
    run_for(load, 0.2, now)
    assert load.level == LoadLevel.BEHIND


def test_the_limit_is_learned_at_a_strain_and_rises_one_session_per_calm_period_spent_full() -> None:
    signals = Signals(sessions=6)
    load = signals.node_load(max_sessions=10)
    assert load.limit == 10
    now = run_for(load, 0.5, 0.0, lag_s=0.3)
    assert load.limit == 5 and load.strains == 1
    now = run_for(load, THRESHOLDS.window_s + 0.5, now)  # calm again, still carrying 6
    assert load.level == LoadLevel.OK
    assert not load.admits(), "six sessions strained it: no seventh, nor a sixth once one ends"
    signals.sessions = 4
    assert load.admits()
    signals.sessions = 5
    assert not load.admits()
    now = run_for(load, THRESHOLDS.recover_s + 0.5, now)
    assert load.limit == 6 and load.admits()
    now = run_for(load, 5 * THRESHOLDS.recover_s, now)
    assert load.limit == 6, "calm while carrying less than its limit says nothing about carrying more"
    for _ in range(10):
        signals.sessions = load.limit
        now = run_for(load, THRESHOLDS.recover_s + 0.5, now)
    assert load.limit == 10, "never above the configured maximum"


def test_the_limit_learned_counts_the_sessions_that_caused_the_strain_not_those_left_when_it_shows() -> None:
    signals = Signals(sessions=6)
    load = signals.node_load(max_sessions=10)
    now = run_for(load, 5.0, 0.0)
    signals.sessions = 3  # three interviews end; the recogniser's ten-second average still shows the six
    signals.recogniser_busy = 0.8
    run_for(load, 0.5, now)
    assert load.level == LoadLevel.STRAINED and load.limit == 5


def test_the_configured_maximum_holds_even_for_an_interview_under_way() -> None:
    load = Signals(sessions=2).node_load(max_sessions=2)
    assert not load.admits() and not load.admits(resuming=True)


def test_with_admission_control_off_the_node_measures_but_neither_refuses_nor_sheds() -> None:
    signals = Signals(sessions=3)
    load = signals.node_load(enforce=False)
    run_for(load, 1.0, 0.0, lag_s=0.5)
    assert load.level == LoadLevel.BEHIND and load.reading().loop_lag_s == 0.5
    assert load.admits() and load.sample_slowdown == 1.0 and signals.levels == []
