"""How the sipp benchmarks find a config's highest rate: the ladder of rates and the steps between.

A step is *clean* when sipp completed every registration or call it was asked for with none failed. A clean step
may still have fallen behind: asked for 6,400 registrations a second, a saturated registrar completed them all, at
3,818 a second, because sipp keeps at most a few hundred open and waits. Such a step did not *sustain* its rate, so
the ladder stops doubling there as it does at a failure, and bisects between the highest rate sustained and the
lowest one not. Before, it tried one rate halfway and stopped: which side of a config's real ceiling the one step
between two doublings fell on then decided the figure (on the lab, 3,818 against 5,300-5,561 found at -r 5600 by
hand, issue 21).

The figure reported is unchanged in kind: the highest rate completed per second by a clean step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

#: A clean step that completed less than this share of the rate asked per second did not keep up with it. sipp's
#: own start-up costs a step about 1 % (3,178/s of 3,200 asked) and the reference's own clean doubling steps
#: reached 0.94 of theirs below its ceiling.
SUSTAINED = 0.9
#: Bisection steps after the doubling ends: the rate between the two is then known to within a quarter.
REFINEMENTS = 2


class Step(Protocol):
    successful: int
    failed: int

    @property
    def rate(self) -> float: ...


def clean(rate: int, seconds: int, step: Step) -> bool:
    """Every one of the step's rate x seconds completed, none failed."""
    return not step.failed and step.successful == rate * seconds


def sustained(rate: int, seconds: int, step: Step) -> bool:
    return clean(rate, seconds, step) and step.rate >= SUSTAINED * rate


def ladder(rates: list[int], seconds: int, run: Callable[[int], Step],
           refinements: int = REFINEMENTS) -> tuple[float, list[tuple[int, Step]]]:
    """Run each rate of `rates` in turn (doubling, as the benchmarks give them) until one is not sustained, then
    `refinements` more halfway between the highest sustained rate and the lowest not. Returns the highest rate
    per second of a clean step (0.0 if none) and every step, in the order run."""
    steps: list[tuple[int, Step]] = []

    def step(rate: int) -> bool:
        result = run(rate)
        steps.append((rate, result))
        return sustained(rate, seconds, result)

    held, missed = None, None
    for rate in rates:
        if not step(rate):
            missed = rate
            break
        held = rate
    for _ in range(refinements if held is not None and missed is not None else 0):
        middle = (held + missed) // 2
        if not held < middle < missed:
            break
        if step(middle):
            held = middle
        else:
            missed = middle
    return max((result.rate for rate, result in steps if clean(rate, seconds, result)), default=0.0), steps
