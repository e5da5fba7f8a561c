"""PNG plots of a run, from Locust's stats history and the media log: rate, latency, loss and MOS over time."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

from .gate import read_media


def _history(report_dir: Path) -> list[dict]:
    path = report_dir / "locust_stats_history.csv"
    if not path.exists():
        return []
    with path.open() as handle:
        return [row for row in csv.DictReader(handle) if row["Name"] == "Aggregated"]


def _number(value: str) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def write_plots(report_dir: Path, title: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    history = _history(report_dir)

    def save(fig, name: str) -> None:
        fig.autofmt_xdate()
        fig.tight_layout()
        path = report_dir / name
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)

    if history:
        times = [datetime.fromtimestamp(int(row["Timestamp"])) for row in history]
        fig, ax = plt.subplots(figsize=(9, 4))
        ax.plot(times, [_number(r["Requests/s"]) for r in history], label="exchanges/s")
        ax.plot(times, [_number(r["Failures/s"]) for r in history], label="failures/s", color="tab:red")
        users = ax.twinx()
        users.plot(times, [_number(r["User Count"]) for r in history], label="users", color="tab:gray", ls="--")
        users.set_ylabel("users")
        ax.set_title(f"{title}: rate")
        ax.set_ylabel("per second")
        ax.legend(loc="upper left")
        save(fig, "rate.png")

        fig, ax = plt.subplots(figsize=(9, 4))
        for column, label in (("50%", "p50"), ("95%", "p95"), ("99%", "p99")):
            ax.plot(times, [_number(r[column]) for r in history], label=label)
        ax.set_title(f"{title}: latency of every exchange")
        ax.set_ylabel("ms")
        ax.legend(loc="upper left")
        save(fig, "latency.png")

    media = read_media(report_dir)
    if media:
        kinds = sorted({m["kind"] for m in media})
        for column, name, label in (("loss_percent", "loss.png", "loss (%)"), ("mos", "mos.png", "MOS (E-model)"),
                                    ("jitter_ms", "jitter.png", "RFC 3550 jitter (ms)")):
            fig, ax = plt.subplots(figsize=(9, 4))
            for kind in kinds:
                rows = [m for m in media if m["kind"] == kind]
                ax.scatter([datetime.fromtimestamp(float(m["time"])) for m in rows], [float(m[column]) for m in rows],
                           s=8, alpha=0.6, label=f"{kind} streams")
            ax.set_title(f"{title}: {label} per stream, at its end")
            ax.set_ylabel(label)
            ax.legend(loc="lower left" if column == "mos" else "upper left")
            save(fig, name)
    return written
