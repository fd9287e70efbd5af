"""A small raw inventory for unit tests (the shape fleet.build_model takes)."""
import copy

KEY = "files/dkim.pem"

RAW = {
    "globals": {
        "mailfleet_tenants": {
            "alpha": {"smtp_password": "alpha secret", "domains": [
                {"name": "alpha.example.com", "dkim_selector": "s1", "dkim_key_file": KEY},
                {"name": "news.alpha.example.com", "dkim_selector": "s2", "dkim_key_file": KEY,
                 "dkim_retired_selectors": [{"selector": "s0", "key_file": KEY}]}]},
            "beta": {"pool": "beta-pool", "smtp_user": "beta-user", "domains": [
                {"name": "beta.example.net", "dkim_selector": "s1", "dkim_key_file": KEY}]},
        },
        "mailfleet_warmup_schedules": {"default": {"stages": [50, 200, 500], "full_rate": 1000,
                                                   "providers": {"gmail": {"share": 0.5}, "yahoo": {"cap": 30}}}},
    },
    "hosts": {
        "pmta-1": {"groups": ["pmta"], "vars": {"mailfleet_ips": [
            {"address": "192.0.2.1", "hostname": "mta1.alpha.example.com", "tenant": "alpha", "warmup_start": "2026-11-01"},
            {"address": "192.0.2.2", "hostname": "mta2.alpha.example.com", "tenant": "alpha", "warmup_start": "2026-11-01"},
            {"address": "198.51.100.1", "hostname": "mta1.beta.example.net", "tenant": "beta", "warmup_start": "2026-11-01"},
        ]}},
        "pmta-2": {"groups": ["pmta"], "vars": {"mailfleet_ips": [
            {"address": "2001:db8::2", "hostname": "mta3.alpha.example.com", "tenant": "alpha", "warmup_start": "2026-11-10"},
        ]}},
        "mailwizz-1": {"groups": ["mailwizz"], "vars": {}},
    },
}


def raw():
    return copy.deepcopy(RAW)


def caps_for(model, daily=50, stage=1, **per_ip):
    """Caps contract for every IP: ``daily`` at ``stage``; ``per_ip`` overrides by address."""
    caps = {}
    for address in model["ips"]:
        caps[address] = {"daily": daily, "providers": {"gmail": daily // 2, "yahoo": min(30, daily)},
                         "standby": False, "stage": stage, "reason": "test"}
        caps[address].update(per_ip.get(address, {}))
    return caps
