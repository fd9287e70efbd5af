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


def test_soft_bounces_fill_nothing_and_are_stuck_once(sim):
    """Issue 14.1 / 14.6: 50 % soft bounces use the cap but deliver half -- never a full day, so the
    IP holds at stage 1 (it went warm on day 42 when bounces counted as fill), is reported stuck
    from its 10th sending day on, and alerted once for the whole episode."""
    result = sim.run_scenario("soft-bounces")
    rows = rows_of(result)
    assert {r["stage"] for r in rows} == {1}
    # the cap was used (>= 90 % sent, as much as the provider caps let through); half delivered
    assert all(r["sent"] >= 0.9 * r["cap"] and r["delivered"] < 0.9 * r["cap"] for r in rows[1:])
    assert not any(r["stuck"] for r in rows[:10]) and all(r["stuck"] for r in rows[11:])
    assert len(result["alerts"]) == 1
    alert = result["alerts"][0]
    assert alert["type"] == "ip_stuck" and "fill" in alert["why"] and "delivered" in alert["why"]


def test_fill_89_is_stuck_with_why(sim):
    result = sim.run_scenario("fill-89")
    rows = rows_of(result)
    assert {r["stage"] for r in rows} == {1}
    assert len(result["alerts"]) == 1 and result["alerts"][0]["day"] == 10
    assert "90% of 50" in rows[-1]["reason"]


def test_gmail_throttling_steps_back_gmail_alone(sim):
    """Issue 14.2-14.5: 421-4.7.28 deferrals at Gmail (classed rate_limited) step Gmail's stage back
    alone the next run; the IP and the other providers keep theirs; Gmail climbs again once clean."""
    rows = rows_of(sim.run_scenario("gmail-throttling"))
    backs = [r for r in rows if "gmail alone over a threshold" in r["reason"]]
    assert backs and backs[0]["day"] == 25
    first = backs[0]
    prev = rows[first["day"] - 1]
    assert "throttling/reputation replies" in first["reason"] and "rate_limited" in first["reason"]
    assert first["action"] == "hold" and first["stage"] == prev["stage"]
    assert first["provider_stages"]["gmail"] == prev["provider_stages"]["gmail"] - 1
    assert first["providers"]["gmail"] < prev["providers"]["gmail"]
    for p in ("microsoft", "yahoo", "other"):
        assert first["provider_stages"][p] == prev["provider_stages"][p]
        assert first["providers"][p] == prev["providers"][p]
    assert not any(r["action"] == "step_back" for r in rows)
    assert rows[-1]["provider_stages"]["gmail"] > first["provider_stages"]["gmail"]


def test_auth_failures_step_the_ip_back_with_the_reason(sim):
    rows = rows_of(sim.run_scenario("auth-failure"))
    backs = [r for r in rows if r["action"] == "step_back"]
    assert backs and backs[0]["day"] == 25
    assert "authentication failures" in backs[0]["reason"] and "> 1.00%" in backs[0]["reason"]
    assert rows[-1]["cap"] > backs[-1]["cap"]


def test_new_provider_starts_at_its_first_stage(sim):
    """Issue 14.5: Microsoft and Yahoo, never sent to for four weeks, are at their first stage when
    the list gains them, whatever the IP's stage, and climb on their own deliveries."""
    rows = rows_of(sim.run_scenario("new-provider"))
    at28 = rows[28]
    assert at28["stage"] >= 4
    assert at28["provider_stages"]["microsoft"] == 1 and at28["provider_stages"]["yahoo"] == 1
    assert at28["provider_stages"]["gmail"] == at28["stage"]
    assert at28["providers"]["microsoft"] < at28["cap"] // 10
    climbs = [r["provider_stages"]["microsoft"] for r in rows[28:]]
    assert climbs == sorted(climbs) and climbs[-1] > 1
    assert all(b - a <= 1 for a, b in zip(climbs, climbs[1:]))
    for r in rows:
        assert all(st is None or r["stage"] == "warm" or st <= r["stage"] for st in r["provider_stages"].values())
    alerts = sim.run_scenario("new-provider")["alerts"]
    assert len(alerts) == 1 and "provider microsoft at stage" in alerts[0]["why"]


def test_cli_writes_svg_and_table(tmp_path):
    proc = subprocess.run([sys.executable, SCRIPT, "--scenario", "admin-away", "--days", "30", "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "max stage jump in one day: 1" in proc.stdout
    assert "(no run)" in proc.stdout
    svg = (tmp_path / "admin-away.svg").read_text()
    assert svg.startswith("<svg") and "polyline" in svg
    assert (tmp_path / "admin-away.json").exists()
