"""How the sipp benchmarks find a config's highest rate (benchmarks/_ladder.py)."""

from dataclasses import dataclass

import pytest

from benchmarks._ladder import ladder

SECONDS = 10


@dataclass
class Step:
    successful: int
    failed: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.successful / self.seconds


def registrar(ceiling: int, breaks_at: int):
    """A registrar that completes up to `ceiling` a second; asked for more, it falls behind (all complete, later),
    and past `breaks_at` some fail."""
    asked = []

    def run(rate: int) -> Step:
        asked.append(rate)
        count = rate * SECONDS
        if rate > breaks_at:
            return Step(count - count // 10, count // 10, SECONDS)
        return Step(count, 0, SECONDS * max(1.0, rate / ceiling))
    return run, asked


def test_a_clean_step_that_fell_behind_its_rate_is_bisected_below_not_taken_as_the_ceiling():
    """The lab's REGISTER ladder of 2026-12-04: -r 6400 completed everything at 3,818/s and the doubling went on
    past it; between 3,200 and 6,400 the ceiling (5,300-5,561/s by hand) was never tried."""
    run, asked = registrar(ceiling=5400, breaks_at=9000)
    best, steps = ladder([400, 800, 1600, 3200, 6400, 12800], SECONDS, run)
    assert asked == [400, 800, 1600, 3200, 6400, 4800, 5600]
    assert 5400 * 0.9 <= best <= 5400
    assert [rate for rate, _ in steps] == asked


def test_a_failed_step_ends_the_doubling_and_the_refinements_halve_the_gap_each_time():
    run, asked = registrar(ceiling=10_000, breaks_at=450)
    best, _ = ladder([100, 200, 400, 800, 1600], SECONDS, run)
    assert asked == [100, 200, 400, 800, 600, 500]
    assert best == 400


def test_the_refinements_climb_when_the_halfway_rate_holds():
    run, asked = registrar(ceiling=10_000, breaks_at=1500)
    best, _ = ladder([100, 200, 400, 800, 1600], SECONDS, run)
    assert asked == [100, 200, 400, 800, 1600, 1200, 1400]
    assert best == 1400


def test_a_ladder_without_a_sustained_step_or_without_a_miss_tries_nothing_between():
    run, asked = registrar(ceiling=10, breaks_at=50)
    assert ladder([100, 200], SECONDS, run)[0] == 0.0 and asked == [100]
    run, asked = registrar(ceiling=10_000, breaks_at=10_000)
    assert ladder([100, 200], SECONDS, run)[0] == 200 and asked == [100, 200]


def test_the_best_rate_counts_a_clean_step_that_fell_behind_when_it_beat_the_sustained_ones():
    """The figure is unchanged in kind: the most completed per second by a step with nothing failed."""
    run, asked = registrar(ceiling=350, breaks_at=1000)
    best, _ = ladder([200, 400, 800], SECONDS, run, refinements=1)
    assert asked == [200, 400, 300]  # 400 asked, 350 done: not sustained, but clean
    assert best == pytest.approx(350)
