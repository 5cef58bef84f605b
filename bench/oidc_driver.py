#!/usr/bin/env python3
"""OIDC sign-ins end to end, as browsers make them: Roster's login, the provider's login
and consent pages (the `oidc-provider` package, run by the caller), Roster's callback
(code exchange, ID token verification, userinfo, JIT provisioning, session).

With --setup, makes a company `oidcbench` with a verified domain and an OIDC connection,
and prints its redirect URI; then, pointed at the provider's --issuer, runs --signins sign-ins of --users people with --concurrency browsers
at once, and prints one line: sign-ins per second, the callback's latency, and the CPU
time Roster (--pid) and the provider (--provider-pid) spent per sign-in.

Standard library only. Used by bench/signins.sh.
"""

import argparse
import http.cookiejar
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def browser():
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(NoRedirect, urllib.request.HTTPCookieProcessor(jar))


def call(opener, url, data=None, headers=None, method=None):
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with opener.open(request, timeout=60) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def cpu_seconds(pid):
    """User and system CPU time of process `pid` so far, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def admin(base, token, method, path, body):
    status, _, text = call(
        urllib.request.build_opener(),
        f"{base}/api/v1{path}",
        json.dumps(body).encode(),
        {"authorization": f"Bearer {token}", "content-type": "application/json"},
        method,
    )
    if status >= 300:
        raise SystemExit(f"{method} {path}: {status} {text}")
    return json.loads(text) if text else None


def sign_in(base, conn, login):
    """One sign-in; returns the callback's latency in seconds."""
    b = browser()
    url = f"{base}/sso/oidc/{conn}/login?return_to=/me"
    callback = f"{base}/sso/oidc/{conn}/callback"
    form = None
    for _ in range(20):
        status, headers, body = call(b, url, form)
        form = None
        if 300 <= status < 400:
            url = urllib.parse.urljoin(url, headers["Location"])
            if url.startswith(callback):
                start = time.perf_counter()
                status, _, body = call(b, url)
                took = time.perf_counter() - start
                if status != 303:
                    raise RuntimeError(f"callback answered {status}: {body[:300]}")
                return took
            continue
        action = re.search(r'action="([^"]+)"', body)
        if status != 200 or not action:
            raise RuntimeError(f"{url} answered {status}: {body[:300]}")
        fields = {"prompt": re.search(r'name="prompt" value="([^"]*)"', body).group(1)}
        if 'name="login"' in body:
            fields.update(login=login, password="any")
        url = urllib.parse.urljoin(url, action.group(1).replace("&amp;", "&"))
        form = urllib.parse.urlencode(fields).encode()
    raise RuntimeError("the sign-in did not reach the callback")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--issuer")
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret", required=True)
    p.add_argument("--conn-file", required=True, help="where the connection id is written")
    p.add_argument("--setup", action="store_true")
    p.add_argument("--pid", type=int)
    p.add_argument("--provider-pid", type=int)
    p.add_argument("--users", type=int, default=500)
    p.add_argument("--signins", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--label", default="oidc")
    a = p.parse_args()

    if a.setup:
        # The provider is started once the redirect URI is known; its issuer comes after.
        admin(a.base, a.token, "POST", "/organizations", {"name": "oidcbench"})
        admin(a.base, a.token, "POST", "/companies/oidcbench/domains", {"domain": "oidc.test"})
        admin(a.base, a.token, "POST", "/companies/oidcbench/domains/oidc.test/verify", {"method": "manual"})
        c = admin(a.base, a.token, "POST", "/connections", {
            "company": "oidcbench", "name": "oidcbench-idp", "protocol": "oidc", "domains": ["oidc.test"],
            "organizations": ["oidcbench"], "default_organization": "oidcbench",
            "oidc": {"issuer": "http://127.0.0.1:9", "client_id": a.client_id, "client_secret": a.client_secret}})
        with open(a.conn_file, "w") as f:
            f.write(c["id"])
        print(c["redirect_uri"])
        return

    conn = open(a.conn_file).read().strip()
    admin(a.base, a.token, "PATCH", f"/connections/{conn}", {
        "oidc": {"issuer": a.issuer, "client_id": a.client_id, "scopes": "openid email profile groups"}})
    sign_in(a.base, conn, "u0@oidc.test")  # warm: discovery and keys fetched
    lock = threading.Lock()
    latencies, errors, next_n = [], [], [0]

    def worker():
        while True:
            with lock:
                n = next_n[0]
                if n >= a.signins:
                    return
                next_n[0] += 1
            try:
                took = sign_in(a.base, conn, f"u{n % a.users}@oidc.test")
                with lock:
                    latencies.append(took)
            except Exception as e:  # noqa: BLE001 - counted and shown
                with lock:
                    errors.append(str(e))

    roster0 = cpu_seconds(a.pid) if a.pid else 0.0
    provider0 = cpu_seconds(a.provider_pid) if a.provider_pid else 0.0
    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(a.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    ok = len(latencies)
    latencies.sort()
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0
    roster = (cpu_seconds(a.pid) - roster0) if a.pid else 0.0
    provider = (cpu_seconds(a.provider_pid) - provider0) if a.provider_pid else 0.0
    print(
        f"{a.label:<22} conc={a.concurrency:<3} ok={ok:<6} err={len(errors):<4} {ok / wall:8.1f} sign-ins/s  "
        f"callback p50={pct(0.5):.1f}ms p99={pct(0.99):.1f}ms  "
        f"roster CPU {roster * 1000 / max(ok, 1):.2f} ms/sign-in  provider CPU {provider * 1000 / max(ok, 1):.2f} ms/sign-in"
    )
    if errors:
        print(f"  first error: {errors[0]}")


if __name__ == "__main__":
    main()
