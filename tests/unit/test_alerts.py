"""Alert dispatch against a local HTTP receiver: Telegram API shape, webhook, dedupe, no token leak."""
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ansible_collections.mailfleet.fleet.plugins.module_utils import alerts

TOKEN = "123456:SECRET-token-value"
EVENTS = [
    {"id": "new_listing:192.0.2.10:zen.test:2025-01-01", "type": "new_listing", "ip": "192.0.2.10",
     "message": "192.0.2.10 newly listed on zen.test"},
    {"id": "standby:192.0.2.10:2025-01-01", "type": "standby", "ip": "192.0.2.10",
     "message": "192.0.2.10 put on standby"},
]


class Receiver:
    def __init__(self, fail_paths=()):
        self.requests = []
        self.fail_paths = set(fail_paths)
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append({"path": self.path, "body": json.loads(body), "headers": dict(self.headers)})
                if any(self.path.startswith(p) for p in outer.fail_paths):
                    self.send_response(401)
                    self.end_headers()
                    self.wfile.write(b'{"ok": false, "description": "Unauthorized"}')
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true, "result": {}}')

            def log_message(self, *a):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), H)
        self.base = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def channels(base):
    return {"telegram": {"token": TOKEN, "chat_id": "-100123", "api_base": base},
            "webhook": {"url": base + "/hook", "headers": {"X-Auth": "hooksecret"}}}


def test_sends_once_then_dedupes(receiver, tmp_path):
    state = str(tmp_path / "alerts.json")
    out = alerts.dispatch(EVENTS, channels(receiver.base), state)
    assert len(out["sent"]) == 4 and out["failed"] == []
    tg = [r for r in receiver.requests if r["path"] == "/bot%s/sendMessage" % TOKEN]
    assert len(tg) == 2
    assert tg[0]["body"]["chat_id"] == "-100123"
    assert "standby" in tg[1]["body"]["text"] or "standby" in tg[0]["body"]["text"]
    hooks = [r for r in receiver.requests if r["path"] == "/hook"]
    assert [h["body"]["event"]["id"] for h in hooks] == [e["id"] for e in EVENTS]
    assert hooks[0]["headers"]["X-Auth"] == "hooksecret"
    n = len(receiver.requests)
    out2 = alerts.dispatch(EVENTS, channels(receiver.base), state)
    assert len(receiver.requests) == n and out2["sent"] == [] and len(out2["skipped"]) == 4
    assert out2["state_changed"] is False
    # a new event goes out alone
    new = EVENTS + [{"id": "resume:192.0.2.10:2025-01-01", "type": "resume", "message": "back"}]
    out3 = alerts.dispatch(new, channels(receiver.base), state)
    assert {s["id"] for s in out3["sent"]} == {"resume:192.0.2.10:2025-01-01"}
    assert len(receiver.requests) == n + 2
    for r in receiver.requests:  # messages never carry the token
        assert TOKEN not in json.dumps(r["body"])
    assert TOKEN not in open(state).read()


def test_check_mode_sends_nothing_writes_nothing(receiver, tmp_path):
    state = str(tmp_path / "alerts.json")
    out = alerts.dispatch(EVENTS, channels(receiver.base), state, check_mode=True)
    assert len(out["would_send"]) == 4 and out["sent"] == []
    assert receiver.requests == [] and not os.path.exists(state)


def test_failure_is_retried_next_run_and_token_redacted(tmp_path, capsys):
    rec = Receiver(fail_paths=["/bot"])
    try:
        state = str(tmp_path / "alerts.json")
        out = alerts.dispatch(EVENTS[:1], channels(rec.base), state)
        assert [f["channel"] for f in out["failed"]] == ["telegram"]
        assert "401" in out["failed"][0]["error"]
        assert TOKEN not in json.dumps(out)
        assert [s["channel"] for s in out["sent"]] == ["webhook"]
        rec.fail_paths.clear()
        out2 = alerts.dispatch(EVENTS[:1], channels(rec.base), state)
        assert out2["sent"] == [{"id": EVENTS[0]["id"], "channel": "telegram"}]
    finally:
        rec.close()
    captured = capsys.readouterr()
    assert TOKEN not in captured.out + captured.err


def test_unreachable_endpoint_error_has_no_token(tmp_path):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    out = alerts.dispatch(EVENTS[:1], {"telegram": {"token": TOKEN, "chat_id": "1",
                                                    "api_base": "http://127.0.0.1:%d" % port}},
                          str(tmp_path / "a.json"), timeout=2)
    assert out["failed"] and TOKEN not in json.dumps(out)


def test_state_file_atomic_and_valid_json(receiver, tmp_path):
    state = str(tmp_path / "sub" / "alerts.json")
    alerts.dispatch(EVENTS, {"webhook": {"url": receiver.base + "/hook"}}, state)
    data = json.load(open(state))
    assert set(data["sent"]) == {"webhook|" + e["id"] for e in EVENTS}
    assert [f for f in os.listdir(tmp_path / "sub") if f.endswith(".tmp")] == []


def test_events_need_ids_and_channels_needed():
    with pytest.raises(ValueError):
        alerts.pending([{"type": "x"}], {"sent": {}}, "webhook")
    with pytest.raises(ValueError):
        alerts.dispatch(EVENTS, {}, None)


def test_prune_old_entries():
    import datetime

    st = {"sent": {"a": "2020-01-01T00:00:00Z", "b": "2025-01-01T00:00:00Z"}}
    alerts.prune(st, datetime.datetime(2025, 1, 2), 30)
    assert list(st["sent"]) == ["b"]


@pytest.mark.parametrize("first", [(503, {"ok": False}), (500, b"oops"), "drop", ("sleep", 0.8, (200, {}))])
def test_an_alert_post_is_not_replayed_and_the_next_run_retries_it(tmp_path, first):
    """The alerts share the MailWizz client's HTTP stack: a POST that may have reached the
    receiver is never replayed within the run (it could alert twice); the dedupe state keeps
    it pending, so the next run sends it."""
    from httpfixtures import ScriptedServer
    srv = ScriptedServer([first, (200, {"ok": True})])
    try:
        state = str(tmp_path / "alerts.json")
        hook = {"webhook": {"url": srv.url + "/hook", "headers": {"X-Auth": "hooksecret"}}}
        out = alerts.dispatch(EVENTS[:1], hook, state, timeout=0.3)
        assert len(srv.requests) == 1 and out["sent"] == [] and len(out["failed"]) == 1
        assert "hooksecret" not in json.dumps(out)
        out = alerts.dispatch(EVENTS[:1], hook, state, timeout=0.3)
        assert out["sent"] == [{"id": EVENTS[0]["id"], "channel": "webhook"}]
        assert [r["method"] for r in srv.requests] == ["POST", "POST"]
    finally:
        srv.close()


def test_alerts_use_the_proxy_of_the_environment(monkeypatch, tmp_path):
    from httpfixtures import ForwardProxy
    proxy = ForwardProxy()
    try:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        out = alerts.dispatch(EVENTS[:1], {"webhook": {"url": "http://hooks.example.test/h"}},
                              str(tmp_path / "a.json"))
        assert out["sent"] and proxy.seen == [("POST", "http://hooks.example.test/h")]
    finally:
        proxy.close()
