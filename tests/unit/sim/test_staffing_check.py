"""Staffing checked by the real core in the simulator (ccqueue.sim.staffing, ccqueue staff)."""

from __future__ import annotations

import pytest

from ccqueue.cli import main
from ccqueue.reports.staffing import ForecastInvalid, Load, agreement, plan, read_forecast
from ccqueue.sim.staffing import simulated_service_level

# A modest day: a morning of rising then falling load, callers with two minutes'
# patience on average.
DAY = [
    Load("2026-03-02T09:00", "support", 60, 180, 120),
    Load("2026-03-02T09:30", "support", 100, 180, 120),
    Load("2026-03-02T10:00", "support", 160, 180, 120),
    Load("2026-03-02T10:30", "support", 120, 200, 120),
]


def test_more_agents_serve_better_on_the_same_callers() -> None:
    common = {"rate_per_s": 10 / 180, "aht_s": 180.0, "answer_within_s": 20.0, "patience_s": 120.0, "measure_s": 3600.0}
    levels = [simulated_service_level(agents=n, **common) for n in (10, 12, 14)]
    assert len({level.counted for level in levels}) == 1  # the same callers each time
    values = [level.service_level for level in levels]
    assert values == sorted(values) and values[0] < values[-1]


def test_simulator_checks_the_recommended_staffing() -> None:
    rows = plan(DAY, 30, {}, simulate=True, measure_s=2 * 3600.0)
    counts = agreement(rows)
    # The recommended staffing meets the objective in the simulator and one agent
    # fewer does not, in most intervals (Erlang C ignores abandonment: it over-staffs).
    assert sum(r.sim_sl is not None and r.sim_sl >= r.target for r in rows) >= 3
    assert counts["under"] <= 1
    assert all(r.agents_a <= r.agents_c for r in rows)


def test_forecast_errors_name_file_and_line(tmp_path) -> None:
    bad = tmp_path / "f.csv"
    bad.write_text(
        "interval_start,queue,calls,aht_s,patience_s\n"
        "2026-03-02T09:00,support,100,180,120\n"
        "09h00,support,100,180,\n"
        "2026-03-02T09:30,support,many,180,\n"
        "2026-03-02T10:00,support,100,0,\n"
        "2026-03-02T10:30,support,100,180\n"
        "2026-03-02T09:00,support,100,180,-1\n"
    )
    with pytest.raises(ForecastInvalid) as caught:
        read_forecast(str(bad))
    lines = [p.split(": ")[0] for p in caught.value.problems]
    assert lines == [f"{bad}:{n}" for n in (3, 4, 5, 6, 7)]


def test_forecast_header_is_checked(tmp_path) -> None:
    bad = tmp_path / "f.csv"
    bad.write_text("start,queue,calls\n")
    with pytest.raises(ForecastInvalid, match="problem"):
        read_forecast(str(bad))


def test_staff_command(tmp_path, capsys) -> None:
    good = tmp_path / "f.csv"
    good.write_text("interval_start,queue,calls,aht_s\n2026-03-02T09:00,support,100,180\n")
    assert main(["staff", "--forecast", str(good), "--format", "csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("interval_start,queue,calls,aht_s,patience_s,erlangs,agents_c")
    assert out[1].split(",")[6] == "14"  # A = 10 Erlangs, 80/20: 14 agents

    bad = tmp_path / "bad.csv"
    bad.write_text("interval_start,queue,calls,aht_s\n2026-03-02T09:00,support,x,180\n")
    assert main(["staff", "--forecast", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "staffing-forecast-invalid" in captured.err and f"{bad}:2" in captured.err


def test_history_rows_give_loads_with_patience_from_waits_over_abandons() -> None:
    from datetime import datetime

    from ccqueue.reports.staffing import loads_from_history

    rows = [
        {"grp": datetime(2026, 3, 2, 9), "queue": "support", "calls": 100, "aht_s": 180.0, "waited_s": 1200.0, "abandoned": 10},
        {"grp": datetime(2026, 3, 2, 9, 30), "queue": "support", "calls": 80, "aht_s": 170.0, "waited_s": 300.0, "abandoned": 0},
        {"grp": datetime(2026, 3, 2, 10), "queue": "support", "calls": 5, "aht_s": None, "waited_s": 900.0, "abandoned": 5},
    ]
    loads = loads_from_history(rows, 30)
    assert loads == [
        Load("2026-03-02T09:00", "support", 100.0, 180.0, 120.0),
        Load("2026-03-02T09:30", "support", 80.0, 170.0, None),
    ]
