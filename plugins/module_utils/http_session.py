# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one HTTP stack of the controller-side clients (MailWizz API, alerts): ``requests``.

* one :class:`requests.Session` per client, with connection pooling (keep-alive);
* urllib3 :class:`Retry` with the project's policy, chosen per request:

  - **idempotent** requests (GET, HEAD, PUT and DELETE that set a state): connection errors, read
    errors/timeouts and the statuses 429, 500, 502, 503, 504 are retried;
  - **non-idempotent** requests (POST creates, toggles): only errors that happen *before* the
    request reaches the server (refused connection, connect timeout) are retried. A read timeout,
    a dropped connection or a status never replays a POST: the caller decides (look the object up
    first, see ``mailwizz_api.MailWizzClient.create_safely``);
  - exponential backoff with jitter (``backoff * 2**n``, capped at ``max_backoff``, half of it
    random); ``Retry-After`` (seconds or HTTP date) is honoured as a floor, capped at
    ``max_retry_after``; the sleep function, the random generator and the attempt counter are
    injectable;
* the options users of ``ansible.builtin.uri`` expect: ``validate_certs``, ``ca_path``,
  ``client_cert``/``client_key``, ``proxy`` (or the environment's ``HTTP(S)_PROXY``/``NO_PROXY``
  with ``use_proxy``), ``timeout``.

Errors come out as :class:`TransportError` (no usable HTTP response) whose text never contains
the request headers (API keys travel there) and is passed through ``redact`` by the callers.
"""
from __future__ import absolute_import, division, print_function

import os
import random
import time

try:  # controller side only; the modules report a missing library cleanly
    import requests
    import urllib3
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry
    # urllib3 2.x: Retry(backoff_max=...) and the read/connect semantics relied on below
    HAS_REQUESTS = int(urllib3.__version__.split(".")[0]) >= 2
except ImportError:  # pragma: no cover - exercised only without the venv
    requests = None
    HTTPAdapter = object
    Retry = object
    HAS_REQUESTS = False

__metaclass__ = type

RETRY_STATUSES = frozenset([429, 500, 502, 503, 504])
IDEMPOTENT_METHODS = frozenset(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"])
HTTP_OPTION_KEYS = ("timeout", "validate_certs", "ca_path", "client_cert", "client_key", "proxy",
                    "use_proxy")


class TransportError(Exception):
    """No usable HTTP response: refused, reset, dropped, timed out, TLS failure."""

    def __init__(self, message, timeout=False, connect=False):
        Exception.__init__(self, message)
        self.timeout = timeout
        self.connect = connect


class HttpConfigError(ValueError):
    """Options that cannot make a session (missing CA file, key without certificate, ...)."""


class Response(object):
    """What the callers see of an HTTP response (status, lowercased headers, raw body)."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = dict((str(k).lower(), v) for k, v in (headers or {}).items())
        self.body = body or b""


class PoliteRetry(Retry):
    """urllib3 Retry with the project's backoff, a capped ``Retry-After`` and injectable sleep."""

    def __init__(self, *args, **kwargs):
        self.sleep_func = kwargs.pop("sleep_func", None) or time.sleep
        self.rng = kwargs.pop("rng", None) or random.Random()
        self.max_retry_after = float(kwargs.pop("max_retry_after", 300.0))
        self.on_retry = kwargs.pop("on_retry", None)
        Retry.__init__(self, *args, **kwargs)

    def new(self, **kw):
        kw.setdefault("sleep_func", self.sleep_func)
        kw.setdefault("rng", self.rng)
        kw.setdefault("max_retry_after", self.max_retry_after)
        kw.setdefault("on_retry", self.on_retry)
        return Retry.new(self, **kw)

    def increment(self, method=None, url=None, response=None, error=None, _pool=None,
                  _stacktrace=None):
        new = Retry.increment(self, method=method, url=url, response=response, error=error,
                              _pool=_pool, _stacktrace=_stacktrace)
        if self.on_retry is not None:
            self.on_retry(method)
        return new

    def get_backoff_time(self):
        """``backoff * 2**(n-1)`` for the n-th consecutive retry, capped, half of it random."""
        n = len(self.history)
        if n <= 0:
            return 0.0
        delay = min(self.backoff_max, self.backoff_factor * (2 ** (n - 1)))
        return delay / 2.0 + self.rng.uniform(0, delay / 2.0)

    def sleep(self, response=None):
        delay = self.get_backoff_time()
        if self.respect_retry_after_header and response is not None:
            retry_after = self.get_retry_after(response)
            if retry_after is not None:
                delay = max(delay, min(float(retry_after), self.max_retry_after))
        if delay > 0:
            self.sleep_func(delay)


class PolicyAdapter(HTTPAdapter):
    """An adapter that picks the retry policy per request (``request.mailfleet_idempotent``).

    The clients are single-threaded: one adapter per session, the policy set just before send.
    """

    def __init__(self, idempotent_retry, replay_safe_retry, pool_maxsize=4):
        self.idempotent_retry = idempotent_retry
        self.replay_safe_retry = replay_safe_retry
        HTTPAdapter.__init__(self, max_retries=idempotent_retry, pool_connections=2,
                             pool_maxsize=pool_maxsize)

    def send(self, request, **kwargs):
        idempotent = getattr(request, "mailfleet_idempotent", False)
        self.max_retries = self.idempotent_retry if idempotent else self.replay_safe_retry
        return HTTPAdapter.send(self, request, **kwargs)


def normalize_options(options):
    """Check the HTTP options; returns a dict with every key of ``HTTP_OPTION_KEYS``."""
    opts = dict((k, None) for k in HTTP_OPTION_KEYS)
    opts.update(dict((k, v) for k, v in (options or {}).items() if k in HTTP_OPTION_KEYS))
    try:
        opts["timeout"] = float(30.0 if opts["timeout"] is None else opts["timeout"])
    except (TypeError, ValueError):
        raise HttpConfigError("timeout must be a number of seconds")
    if not opts["timeout"] > 0:
        raise HttpConfigError("timeout must be > 0 seconds")
    opts["validate_certs"] = True if opts["validate_certs"] is None else bool(opts["validate_certs"])
    opts["use_proxy"] = True if opts["use_proxy"] is None else bool(opts["use_proxy"])
    for key in ("ca_path", "client_cert", "client_key"):
        if not opts[key]:
            continue
        if not (os.path.isfile(opts[key]) or (key == "ca_path" and os.path.isdir(opts[key]))):
            raise HttpConfigError("%s %s is not a readable file" % (key, opts[key]))
    if opts["client_key"] and not opts["client_cert"]:
        raise HttpConfigError("client_key needs client_cert")
    if opts["proxy"] is not None and not str(opts["proxy"]).startswith(("http://", "https://",
                                                                        "socks5://",
                                                                        "socks5h://")):
        raise HttpConfigError("proxy must be a URL such as http://proxy.example.net:3128")
    return opts


def request_settings(opts):
    """The keyword arguments of ``Session.send`` the options stand for."""
    verify = True
    if not opts["validate_certs"]:
        verify = False
    elif opts["ca_path"]:
        verify = opts["ca_path"]
    cert = None
    if opts["client_cert"]:
        cert = (opts["client_cert"], opts["client_key"]) if opts["client_key"] else opts["client_cert"]
    proxies = None
    if opts["proxy"]:
        proxies = {"http": opts["proxy"], "https": opts["proxy"]}
    return {"verify": verify, "cert": cert, "proxies": proxies,
            "timeout": (opts["timeout"], opts["timeout"])}


class HttpSession(object):
    """One ``requests.Session`` with the retry policy and the TLS/proxy options.

    ``send(method, url, headers, body, idempotent) -> Response`` or raises TransportError.
    """

    def __init__(self, options=None, retries=4, backoff=0.5, max_backoff=30.0,
                 max_retry_after=300.0, sleep=None, rng=None, on_attempt=None,
                 user_agent="mailfleet/0.2"):
        if not HAS_REQUESTS:
            raise HttpConfigError("the Python libraries requests and urllib3 >= 2 are required "
                                  "on the controller")
        self.options = normalize_options(options)
        self.settings = request_settings(self.options)
        self.on_attempt = on_attempt
        retries = max(0, int(retries))
        common = dict(backoff_factor=float(backoff), backoff_max=float(max_backoff),
                      raise_on_status=False, raise_on_redirect=False, redirect=0,
                      sleep_func=sleep, rng=rng, max_retry_after=max_retry_after,
                      on_retry=self._retried)
        idempotent = PoliteRetry(total=retries, connect=retries, read=retries, status=retries,
                                 other=0, allowed_methods=IDEMPOTENT_METHODS,
                                 status_forcelist=RETRY_STATUSES,
                                 respect_retry_after_header=True, **common)
        # Nothing that may have reached the server is replayed: only a connection that could
        # not be opened is retried; a read error is raised as is (read=False), no status is
        # retried (empty forcelist, Retry-After not a reason).
        replay_safe = PoliteRetry(total=retries, connect=retries, read=False, status=0, other=0,
                                  allowed_methods=IDEMPOTENT_METHODS,
                                  status_forcelist=frozenset(),
                                  respect_retry_after_header=False, **common)
        self.session = requests.Session()
        self.session.trust_env = self.options["use_proxy"]
        self.session.headers.update({"User-Agent": user_agent})
        adapter = PolicyAdapter(idempotent, replay_safe)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def _retried(self, method):
        if self.on_attempt is not None:
            self.on_attempt(method)

    def close(self):
        self.session.close()

    def send(self, method, url, headers, body, idempotent):
        method = method.upper()
        req = requests.Request(method, url, headers=headers, data=body)
        prepared = self.session.prepare_request(req)
        prepared.mailfleet_idempotent = bool(idempotent)
        settings = self.session.merge_environment_settings(
            prepared.url, self.settings["proxies"] or {}, False, self.settings["verify"],
            self.settings["cert"])
        if self.on_attempt is not None:
            self.on_attempt(method)
        try:
            resp = self.session.send(prepared, timeout=self.settings["timeout"],
                                     allow_redirects=False, **settings)
        except requests.exceptions.ConnectTimeout as exc:
            raise TransportError(describe(exc, "connect timeout"), timeout=True, connect=True)
        except requests.exceptions.Timeout as exc:
            raise TransportError(describe(exc, "read timeout"), timeout=True)
        except requests.exceptions.SSLError as exc:
            raise TransportError(describe(exc, "TLS error"), connect=True)
        except requests.exceptions.ProxyError as exc:
            raise TransportError(describe(exc, "proxy error"), connect=True)
        except requests.exceptions.ConnectionError as exc:
            # refused / unreachable before anything was sent, or lost after it was sent
            raise TransportError(describe(exc, "connection error"),
                                 connect=_never_sent(exc))
        except (requests.exceptions.RequestException, OSError) as exc:
            raise TransportError(describe(exc, type(exc).__name__))
        return Response(resp.status_code, resp.headers, resp.content)


def _causes(exc):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        inner = getattr(exc, "reason", None) or getattr(exc, "__cause__", None)
        if inner is None and getattr(exc, "args", None) and isinstance(exc.args[0], Exception):
            inner = exc.args[0]
        exc = inner


def _never_sent(exc):
    """True when the connection could not be opened (the request never reached a server)."""
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
    return any(isinstance(e, (NewConnectionError, ConnectTimeoutError)) for e in _causes(exc))


def describe(exc, what):
    """``what: innermost reason`` without the URL's query string or any request header."""
    reason = exc
    for reason in _causes(exc):
        pass
    text = str(reason).strip()
    if len(text) > 300:
        text = text[:297] + "..."
    return "%s (%s%s)" % (what, type(reason).__name__, ": " + text if text else "")
