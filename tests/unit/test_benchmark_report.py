"""How the benchmarks print a ratio beside its target (benchmarks/_report.py)."""

from benchmarks._report import ratio


def test_a_ratio_just_under_its_target_never_prints_as_the_target():
    assert ratio(4831.9 / 6442.9) == "0.74"  # 0.74996: MISSED against 0.75, as the lab's run of 2026-12-04 printed it
    assert ratio(0.57) == "0.57" and ratio(1.0) == "1.00" and ratio(1.0799) == "1.07"
    assert ratio(None) == "-"


def test_every_report_records_how_fast_the_machine_was_when_it_was_written(tmp_path, monkeypatch):
    """A figure from a loaded shared machine is told apart from one from an idle one: the Machine line carries the
    speed check's seconds (the same fixed loop every time)."""
    import benchmarks._report as module

    monkeypatch.setattr(module, "PROJECT_ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    monkeypatch.setattr(module, "_speed_at_report", None)
    checks = []
    monkeypatch.setattr(module, "speed_check", lambda: checks.append(1) or 0.4321)
    module.report("A title", ["a", "b"], [["1", "2"]], "A note.")
    module.report("Another title", ["a"], [["3"]])
    written = (tmp_path / "docs" / "benchmarks.md").read_text()
    assert "speed check 0.43 s" in written and "| 1 | 2 |" in written and "A note." in written
    assert written.count("speed check 0.43 s") == 2 and len(checks) == 1  # measured once, at the first report


def test_the_speed_checks_time_real_work():
    from benchmarks._report import speed_check

    assert 0.01 < speed_check() < 30
