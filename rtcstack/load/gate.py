"""The service-level gate: read a run's Locust CSV and media log back and check each scenario's thresholds."""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config.settings import LoadSettings, Thresholds
from .scenarios import SCENARIOS, Scenario


@dataclass
class Check:
    scenario: str
    what: str
    measured: float | None
    limit: float
    direction: str  # "<=" or ">="

    @property
    def passed(self) -> bool:
        if self.measured is None:
            return False
        return self.measured <= self.limit if self.direction == "<=" else self.measured >= self.limit

    def row(self) -> list[str]:
        shown = "not measured" if self.measured is None else f"{self.measured:.4g}"
        return [self.scenario, self.what, shown, f"{self.direction} {self.limit:g}", "yes" if self.passed else "NO"]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def read_stats(report_dir: Path) -> dict[tuple[str, str], dict[str, str]]:
    path = report_dir / "locust_stats.csv"
    if not path.exists():
        return {}
    with path.open() as handle:
        return {(row["Type"], row["Name"]): row for row in csv.DictReader(handle)}


def read_media(report_dir: Path) -> list[dict]:
    path = report_dir / "media.csv"
    if not path.exists():
        return []
    with path.open() as handle:
        return list(csv.DictReader(handle))


def _checks(part: Scenario, limits: Thresholds, stats: dict, media: list[dict]) -> list[Check]:
    rows = [stats[step] for step in part.steps if step in stats]
    requests = sum(int(r["Request Count"]) for r in rows)
    failures = sum(int(r["Failure Count"]) for r in rows)
    checks = [Check(part.name, "failure ratio", failures / requests if requests else None, limits.max_failure_ratio, "<=")]
    if limits.max_p95_setup_ms is not None:
        setup_rows = [stats[part.setup]] if part.setup in stats else ([] if part.setup else rows)
        p95 = max((float(r["95%"]) for r in setup_rows if int(r["Request Count"])), default=None)
        name = f"p95 {part.setup[1]} (ms)" if part.setup else "p95 request (ms)"
        checks.append(Check(part.name, name, p95, limits.max_p95_setup_ms, "<="))
    if part.media:
        streams = [m for m in media if m["kind"] == part.media]
        expected = sum(int(m["expected"]) for m in streams)
        lost = sum(int(m["lost"]) for m in streams)
        if limits.max_loss_percent is not None:
            checks.append(Check(part.name, "loss (%)", 100 * lost / expected if expected else None,
                                limits.max_loss_percent, "<="))
        if limits.max_jitter_p95_ms is not None:
            checks.append(Check(part.name, "jitter p95 (ms)", percentile([float(m["jitter_ms"]) for m in streams], 95),
                                limits.max_jitter_p95_ms, "<="))
        if limits.min_mos is not None:
            checks.append(Check(part.name, "MOS, 95 % of streams at least", percentile(
                [float(m["mos"]) for m in streams], 5), limits.min_mos, ">="))
    return checks


def evaluate(scenario: str, load: LoadSettings, report_dir: Path) -> list[Check]:
    stats, media = read_stats(report_dir), read_media(report_dir)
    return [check for part in SCENARIOS[scenario].parts() for check in _checks(part, getattr(load, part.name), stats, media)]


def media_summary(report_dir: Path) -> dict[str, dict]:
    """Per media kind: streams, packets, loss, jitter and MOS figures (for the report and the benchmarks)."""
    out = {}
    media = read_media(report_dir)
    for kind in sorted({m["kind"] for m in media}):
        streams = [m for m in media if m["kind"] == kind]
        expected = sum(int(m["expected"]) for m in streams)
        delays = [float(m["delay_ms"]) for m in streams if m["delay_ms"] not in ("", "None")]
        out[kind] = {"streams": len(streams), "packets_expected": expected,
                     "packets_lost": sum(int(m["lost"]) for m in streams),
                     "loss_percent": 100 * sum(int(m["lost"]) for m in streams) / expected if expected else None,
                     "jitter_p50_ms": percentile([float(m["jitter_ms"]) for m in streams], 50),
                     "jitter_p95_ms": percentile([float(m["jitter_ms"]) for m in streams], 95),
                     "delay_p50_ms": percentile(delays, 50), "mos_mean": sum(float(m["mos"]) for m in streams) / len(streams),
                     "mos_p5": percentile([float(m["mos"]) for m in streams], 5)}
    return out


def as_json(checks: list[Check]) -> list[dict]:
    return [{**asdict(c), "passed": c.passed} for c in checks]
