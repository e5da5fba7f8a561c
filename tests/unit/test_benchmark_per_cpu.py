"""The generators' comparison at matched rates (benchmarks/_per_cpu.py)."""

import pytest

from benchmarks._per_cpu import at_matched_rates, interpolated


def test_a_figure_between_two_steps_is_interpolated_and_none_outside_them():
    points = [(100.0, 300.0), (50.0, 250.0), (150.0, 360.0)]
    assert interpolated(points, 75.0) == pytest.approx(275.0)
    assert interpolated(points, 150.0) == pytest.approx(360.0)
    assert interpolated(points, 160.0) is None and interpolated(points, 40.0) is None
    assert interpolated([(20.0, 180.0)], 20.0) == 180.0


def test_matched_rates_compare_only_inside_both_tools_ranges_so_a_higher_best_step_is_not_counted():
    """The best steps of these two runs give 1.07 (387 at 164/s against 361 at 143/s), but at the same rate one is
    below the other: at 143/s the first tool did 369, the second 361; at 96/s, 328 against 317."""
    ours = [(20.0, 212.0), (50.0, 295.0), (96.4, 328.0), (163.7, 387.0)]
    theirs = [(19.0, 183.0), (47.5, 291.0), (94.9, 316.0), (142.7, 361.0)]
    ratios = dict(at_matched_rates(ours, theirs))
    assert 163.7 not in ratios and 19.0 not in ratios  # outside the other's clean range
    assert ratios[96.4] == pytest.approx(328 / (316 + 45 * 1.5 / 47.8), rel=1e-3)
    assert ratios[142.7] == pytest.approx((328 + 59 * 46.3 / 67.3) / 361, rel=1e-3)
    assert min(ratios.values()) == pytest.approx(ratios[47.5])
    assert at_matched_rates(ours, [(500.0, 1.0), (600.0, 2.0)]) == []


def test_alternating_rounds_are_read_by_their_median_ratio_against_the_target():
    """Issue 21 (2026-12-07): each tool's figure moved 11-15 % between rounds a minute apart, and the best steps read
    0.93 while three rounds at equal rates read 1.00, 1.04 and 0.94. A round pairs the two tools' runs at the same
    rate one right after the other; their median ratio is read against the target, and no round means no figure."""
    from benchmarks._per_cpu import alternating

    rounds = [((249.4, 345.0), (223.8, 345.0)), ((233.5, 306.0), (194.1, 294.0)), ((238.1, 318.0), (216.3, 338.0))]
    ratios, middle, met = alternating(rounds)
    assert [round(r, 2) for r in ratios] == [1.0, 1.04, 0.94] and middle == pytest.approx(1.0) and met
    assert alternating(rounds[2:]) == ([pytest.approx(318 / 338)], pytest.approx(318 / 338), False)
    assert alternating([]) == ([], None, False)
