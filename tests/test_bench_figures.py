"""What `make bench` prints beside the totals: measures that drift less than throughput on a
shared machine."""

from __future__ import annotations

from bench.__main__ import steadier_measures


def run(server: str, rnd: int, rps: float, app: float, db: float) -> dict[str, object]:
    return {
        "server": server,
        "round": rnd,
        "throughput_rps": rps,
        "app_cpu_ms_per_request": app,
        "db_cpu_ms_per_request": db,
    }


def test_each_round_is_compared_on_its_own_and_cpu_per_request_is_averaged():
    runs = [
        run("reference", 1, 4000.0, 0.3, 0.1),
        run("doorstep", 1, 1000.0, 1.0, 0.6),
        run("minimal", 1, 900.0, 1.2, 0.2),
        run("doorstep", 2, 900.0, 1.2, 0.8),
        run("reference", 2, 3000.0, 0.34, 0.14),
    ]
    m = steadier_measures(runs)
    assert m["ratio_by_round"] == [0.25, 0.3]
    assert m["doorstep_cpu_ms"] == 1.8 and m["reference_cpu_ms"] == 0.44
    assert m["cpu_ratio"] == round(0.44 / 1.8, 3)
