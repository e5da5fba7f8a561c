"""Two load generators compared per CPU-second at the same rate.

A generator's calls per CPU-second rise with its rate: its fixed costs per second (timers, Locust's reports, sipp's
scheduler) are spread over more calls. Comparing each tool at its own best step therefore favours whichever reached
the higher rate cleanly; comparing at matched rates does not. Each tool's clean steps are points (rate, per CPU-second);
at every point of one tool inside the other's range of clean rates, the other's figure is interpolated linearly
between its two nearest steps (never extrapolated).
"""

from __future__ import annotations

from statistics import median

Point = tuple[float, float]  # (rate per second, work per CPU-second)


def interpolated(points: list[Point], rate: float) -> float | None:
    """The per-CPU-second figure at `rate` between the two nearest points (None outside their range)."""
    points = sorted(points)
    for (low_rate, low), (high_rate, high) in zip(points, points[1:]):
        if low_rate <= rate <= high_rate:
            if high_rate == low_rate:
                return max(low, high)
            return low + (high - low) * (rate - low_rate) / (high_rate - low_rate)
    return next((value for r, value in points if r == rate), None)


def at_matched_rates(ours: list[Point], theirs: list[Point]) -> list[Point]:
    """(rate, ours / theirs) at every point of either tool inside the other's range, by rate."""
    ratios = []
    for rate, value in ours:
        other = interpolated(theirs, rate)
        if other:
            ratios.append((rate, value / other))
    for rate, value in theirs:
        mine = interpolated(ours, rate)
        if mine is not None and value:
            ratios.append((rate, mine / value))
    return sorted(ratios)


def alternating(rounds: list[tuple[Point, Point]], target: float = 1.0) -> tuple[list[float], float | None, bool]:
    """Rounds of the two tools one right after the other at the same rate, each (ours, theirs) as points: the ratio
    of each round's figures, their median (None without a round) and whether the median reaches `target`. A round
    pairs two runs a minute apart, so the machine's swings between minutes (11-15 % for either tool on 2026-12-07)
    fall on both sides of it; a tool's best step does not."""
    ratios = [ours[1] / theirs[1] for ours, theirs in rounds if theirs[1]]
    middle = median(ratios) if ratios else None
    return ratios, middle, middle is not None and middle >= target
