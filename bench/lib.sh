# Shared by the benchmark scripts (sourced).

# Waits until the server at BASE answers /readyz.
wait_ready() { # base
  for _ in $(seq 1 600); do curl -sf "$1/readyz" >/dev/null && return 0; sleep 0.1; done
  echo "the server at $1 did not start" >&2
  return 1
}

# The user + system CPU seconds process PID has used.
cpu() { # pid
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"
}

# Prints the CPU process PID used per request since CPU-BEFORE, the request count read
# from a roster-load output file (its ok=N) or given as a number.
per() { # label pid cpu-before load-output-or-count [unit]
  local n after
  if [ -f "$4" ]; then n=$(grep -o 'ok=[0-9]*' "$4" | head -1 | cut -d= -f2); else n=$4; fi
  after=$(cpu "$2")
  awk -v a="$after" -v b="$3" -v n="$n" -v l="$1" -v u="${5:-exchange}" \
    'BEGIN { printf "  %s CPU %.3f ms/%s\n", l, (a - b) * 1000 / n, u }'
}

# Makes company and organization acme, its verified domain bench.test and a SAML
# connection with SCIM on; prints a SCIM token of that connection.
scim_setup() { # base admin-token
  local api="$1/api/v1" auth="Authorization: Bearer $2" json="Content-Type: application/json"
  curl -sf -H "$auth" -H "$json" "$api/organizations" -d '{"name": "acme"}' >/dev/null
  curl -sf -H "$auth" -H "$json" "$api/companies/acme/domains" -d '{"domain": "bench.test"}' >/dev/null
  curl -sf -H "$auth" -H "$json" "$api/companies/acme/domains/bench.test/verify" -d '{"method": "manual"}' >/dev/null
  curl -sf -H "$auth" -H "$json" "$api/connections" -d '{"company": "acme", "name": "idp", "protocol": "saml",
    "domains": ["bench.test"], "default_organization": "acme", "default_team": "everyone", "scim": true}' >/dev/null
  curl -sf -H "$auth" -X POST "$api/connections/idp/scim-tokens" | python3 -c "import json,sys; print(json.load(sys.stdin)['token'])"
}
