#!/usr/bin/env python3
"""Signs a browser in at an OpenID Provider through its own login and consent pages
(the `oidc-provider` package's), with PKCE, until it sends the browser back to the
client's redirect URI with a code; prints the browser's cookies there, as a Cookie
header, for `roster-load --scenario oauth2-code --op-cookie`.

Standard library only. Used by bench/apps.sh.
"""

import argparse
import http.cookiejar
import json
import re
import urllib.parse
import urllib.request

from oidc_driver import NoRedirect, call

# RFC 7636 Appendix B, as roster-load sends.
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--issuer", required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--redirect-uri", required=True)
    p.add_argument("--login", required=True)
    a = p.parse_args()
    with urllib.request.urlopen(f"{a.issuer}/.well-known/openid-configuration", timeout=30) as r:
        doc = json.load(r)
    jar = http.cookiejar.CookieJar()
    b = urllib.request.build_opener(NoRedirect, urllib.request.HTTPCookieProcessor(jar))
    url = doc["authorization_endpoint"] + "?" + urllib.parse.urlencode({
        "client_id": a.client_id, "redirect_uri": a.redirect_uri, "response_type": "code",
        "scope": "openid", "nonce": "bench", "state": "bench",
        "code_challenge": CHALLENGE, "code_challenge_method": "S256"})
    form = None
    for _ in range(20):
        status, headers, body = call(b, url, form)
        form = None
        if 300 <= status < 400:
            url = urllib.parse.urljoin(url, headers["Location"])
            if url.startswith(a.redirect_uri):
                if "code=" not in url:
                    raise SystemExit(f"no code: {url}")
                print("; ".join(f"{c.name}={c.value}" for c in jar))
                return
            continue
        action = re.search(r'action="([^"]+)"', body)
        if status != 200 or not action:
            raise SystemExit(f"{url} answered {status}: {body[:300]}")
        fields = {"prompt": re.search(r'name="prompt" value="([^"]*)"', body).group(1)}
        if 'name="login"' in body:
            fields.update(login=a.login, password="any")
        url = urllib.parse.urljoin(url, action.group(1).replace("&amp;", "&"))
        form = urllib.parse.urlencode(fields).encode()
    raise SystemExit("the sign-in did not come back to the redirect URI")


if __name__ == "__main__":
    main()
