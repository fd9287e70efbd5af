"""Key properties of the warmup simulation scenarios (scripts/simulate.py runs the real planner)."""
import importlib.util
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "simulate.py")


@pytest.fixture(scope="module")
def sim():
    spec = importlib.util.spec_from_file_location("mailfleet_simulate", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def rows_of(result, ip=None):
    return [r for r in result["rows"] if ip is None or r["ip"] == ip]


def test_all_scenarios_never_leap_and_respect_caps(sim):
    stages = sim.TEAM_SCHEDULE["stages"]
    for name in sim.SCENARIOS:
        result = sim.run_scenario(name)
        assert sim.max_daily_stage_jump(result) <= 1, name
        for r in result["rows"]:
            assert r["sent"] <= r["cap"], (name, r)
            if r["standby"]:
                assert r["cap"] == 0 and r["sent"] == 0
            assert r["cap"] in stages + [0, sim.TEAM_SCHEDULE["full_rate"]]


def test_happy_path_one_stage_a_week(sim):
    result = sim.run_scenario("happy-path")
    first = rows_of(result, sim.IP1)
    advances = [r["day"] for r in first if r["action"] == "advance"]
    assert advances == [7, 14, 21, 28, 35, 42]
    assert first[-1]["stage"] == "warm" and first[-1]["cap"] == 10000
    second = rows_of(result, sim.IP2)
    assert all(r["cap"] == 0 for r in second[:10]) and second[10]["cap"] == 50


def test_admin_away_never_leaps(sim):
    result = sim.run_scenario("admin-away")
    rows = rows_of(result)
    before = rows[14]  # last run before the week away
    back = rows[22]  # first run after
    assert not any(r["ran"] for r in rows[15:22])
    assert all(r["cap"] == before["cap"] for r in rows[15:22])  # PowerMTA kept the last caps
    assert back["stage"] - before["stage"] <= 1
    # the calendar plan would be at 1500/day by then; never more than one stage at once
    assert sim.calendar_stage(22) == 4
    assert sim.max_daily_stage_jump(result) == 1


def test_bounce_spike_steps_back_and_recovers(sim):
    rows = rows_of(sim.run_scenario("bounce-spike"))
    assert rows[25]["action"] == "step_back" and rows[25]["stage"] < rows[24]["stage"]
    assert "hard bounces" in rows[25]["reason"]
    assert rows[-1]["cap"] > rows[26]["cap"]


def test_complaint_burst_backs_off_one_provider(sim):
    rows = rows_of(sim.run_scenario("complaint-burst"))
    backed = [r for r in rows if "yahoo alone over a threshold" in r["reason"]]
    assert backed
    for r in backed:
        assert r["action"] == "hold"
        assert r["providers"]["yahoo"] < min(r["cap"], 2000)
        assert r["providers"]["gmail"] == int(0.45 * r["cap"])
    assert not any(r["action"] == "step_back" for r in rows)


def test_blacklisted_standby_then_resume_lower(sim):
    rows = rows_of(sim.run_scenario("blacklisted"))
    assert all(r["standby"] and r["cap"] == 0 for r in rows[30:34])
    assert "zen.spamhaus.org" in rows[30]["reason"]
    assert rows[34]["action"] == "resume" and rows[34]["stage"] == rows[29]["stage"] - 1


def test_standby_within_a_day_resumes_lower_the_same_day(sim):
    """Issue 13.7 through the real health engine: listed at 00h on the day the IP would advance,
    clean from 04h; the 12h run resumes one stage lower and nothing advances that day."""
    rows = rows_of(sim.run_scenario("listed-for-hours"))
    before, day = rows[34], rows[35]
    assert [r["action"] for r in day["runs"]] == ["standby"] * 3 + ["resume"] * 3
    assert [r["hour"] for r in day["runs"] if r["action"] == "resume"][0] == 12
    assert day["stage"] == before["stage"] - 1 and day["cap"] < before["cap"]
    assert not any(r["action"] == "advance" for r in day["runs"])
    assert 0 < day["sent"] <= day["cap"] // 2 + 1  # nothing sent while on standby (00h-12h)
    # the same listing clearing the next day gives the same stage
    variant = dict(sim.SCENARIOS["listed-for-hours"], dnsbl=lambda d, h: "listed" if d == 35 else "clean")
    sim.SCENARIOS["listed-overnight"] = variant
    try:
        night = rows_of(sim.run_scenario("listed-overnight"))
    finally:
        del sim.SCENARIOS["listed-overnight"]
    resumed = [r for r in night[36]["runs"] if r["action"] == "resume"]
    assert resumed and resumed[0]["stage"] == day["stage"]


def test_pause_rewarms(sim):
    rows = rows_of(sim.run_scenario("pause-30-days"))
    rewarm = [r for r in rows if r["action"] == "rewarm"]
    assert [r["day"] for r in rewarm] == [51]
    assert rewarm[0]["stage"] == rows[50]["stage"] - 2
    assert rows[60]["cap"] == rewarm[0]["cap"]  # sending resumes at the re-warm stage, not the old one


def test_cli_writes_svg_and_table(tmp_path):
    proc = subprocess.run([sys.executable, SCRIPT, "--scenario", "admin-away", "--days", "30", "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "max stage jump in one day: 1" in proc.stdout
    assert "(no run)" in proc.stdout
    svg = (tmp_path / "admin-away.svg").read_text()
    assert svg.startswith("<svg") and "polyline" in svg
    assert (tmp_path / "admin-away.json").exists()
