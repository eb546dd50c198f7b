#!/usr/bin/env bash
# End-to-end check of docker-compose.yml: two app replicas behind nginx sharing one
# PostgreSQL (not part of the default test run: it needs Docker and the built image).
#
#   scripts/compose_check.sh              build the images that are missing, then check
#   scripts/compose_check.sh --build      always rebuild the rustseg image first
#
# With no container registry (this project's CI box), the official postgres:15-bookworm and
# nginx:1.27-bookworm images are replaced by local stand-ins built from Debian's packages
# (deploy/standins/); with a registry, docker-compose pulls the real ones.
#
# Checks: the stack comes up in order (db healthy → migrate exits 0 → 2 app replicas
# healthy → nginx); /healthz through nginx; an API keep through nginx; the kept mask is served,
# byte-identical, by each replica asked directly (one database, not two); concurrent keeps
# through nginx give distinct ids, all stored, and both replicas served some; `rustseg store
# check` is clean; after `docker-compose down` (containers gone, volume kept) and `up`, the
# records are still there.
# Prints one PASS/FAIL line per check and a summary; exit status 1 if any check failed.
# Needs: docker, docker-compose (1.29, or `docker compose` v2), curl, python3 with Pillow.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=auto
case "${1:-}" in
  --build) BUILD=always ;;
  "") ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
esac
source "$ROOT/scripts/check_lib.sh"
for tool in docker curl python3; do
  command -v "$tool" >/dev/null || { echo "FAIL  setup: $tool not found" >&2; exit 2; }
done
docker info >/dev/null 2>&1 || { echo "FAIL  setup: docker daemon not reachable" >&2; exit 2; }
if command -v docker-compose >/dev/null; then COMPOSE=(docker-compose)
elif docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose)
else
  echo "FAIL  setup: neither docker-compose nor the docker compose plugin found (Debian: apt-get install docker-compose)" >&2
  exit 2
fi

PROJECT="rustsegcheck$$"
WORK=$(mktemp -d)
export RUSTSEG_PORT RUSTSEG_SECRET_KEY RUSTSEG_DB_PASSWORD
RUSTSEG_PORT=$(free_port)
RUSTSEG_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
RUSTSEG_DB_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
BASE="http://127.0.0.1:$RUSTSEG_PORT"
compose() { "${COMPOSE[@]}" -p "$PROJECT" -f "$ROOT/docker-compose.yml" "$@"; }

cleanup() {
  local rc=$?
  if [ "$FAILED" -gt 0 ] || [ "$rc" -ne 0 ]; then
    echo "----- last lines of the stack's logs -----"
    compose logs --tail 15 2>&1 | sed 's/^/      /' || true
  fi
  compose down -v --remove-orphans >/dev/null 2>&1 || true
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- images ------------------------------------------------------------------------------
if [ "$BUILD" = always ] || ! docker image inspect rustseg >/dev/null 2>&1; then
  build_image rustseg "$ROOT"
fi
for pair in "postgres:15-bookworm postgres" "nginx:1.27-bookworm nginx"; do
  read -r image name <<<"$pair"
  if ! docker image inspect "$image" >/dev/null 2>&1 && ! docker pull -q "$image" >/dev/null 2>&1; then
    build_image "$image" "$ROOT/deploy" "$ROOT/deploy/standins/$name.Dockerfile"
  fi
done

# --- 1. up ---------------------------------------------------------------------------------
start=$(date +%s)
compose up -d --no-build >"$WORK/up.log" 2>&1 || { tail -20 "$WORK/up.log" | sed 's/^/      /'; abort up "docker-compose up failed"; }
until [ "$(curl -s -o "$WORK/healthz.json" -w '%{http_code}' --max-time 10 "$BASE/healthz" || true)" = 200 ]; do
  [ $(( $(date +%s) - start )) -ge 420 ] && abort up "no /healthz through nginx after 420 s"
  sleep 3
done
pass up "stack up, /healthz 200 through nginx after $(( $(date +%s) - start )) s: $(tr -d '\n' < "$WORK/healthz.json" | cut -c1-120)"

migrate=$(compose ps -q migrate)
code=$(docker container inspect -f '{{.State.ExitCode}}' "$migrate" 2>/dev/null || echo "?")
[ "$code" = 0 ] && pass migrate "rustseg store upgrade exited 0: $(docker logs "$migrate" 2>&1 | tail -1 | cut -c1-100)" \
  || fail migrate "exit $code: $(docker logs "$migrate" 2>&1 | tail -3 | tr '\n' ' ')"

mapfile -t APPS < <(compose ps -q app)
healthy=0
for c in "${APPS[@]}"; do
  for _ in $(seq 60); do
    h=$(docker container inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$c")
    [ "$h" = healthy ] && break
    sleep 3
  done
  [ "$h" = healthy ] && healthy=$((healthy + 1))
done
[ "${#APPS[@]}" -eq 2 ] && [ "$healthy" -eq 2 ] && pass replicas "2 app containers, both healthy" \
  || abort replicas "${#APPS[@]} app containers, $healthy healthy"

# --- 2. keep through nginx, read from each replica -----------------------------------------
test_photo "$WORK/rust.jpg"
keep() {  # keep OUT.json → HTTP status
  curl -s -o "$1" -w '%{http_code}' --max-time 180 -F "image=@$WORK/rust.jpg;type=image/jpeg" \
    -F keep=true "$BASE/api/v1/segment" || true
}
code=$(keep "$WORK/keep.json")
ID=$(python3 -c 'import json,sys; b = json.load(open(sys.argv[1])); print(b["id"] if b.get("kept") else "")' "$WORK/keep.json" 2>/dev/null || true)
[ "$code" = 200 ] && [ -n "$ID" ] && pass keep "POST /api/v1/segment keep=true through nginx: 200, id $ID" \
  || abort keep "HTTP $code: $(head -c 300 "$WORK/keep.json")"

# Each replica, asked on its own loopback, serves the same mask bytes.
in_replica_sha() {  # CONTAINER PATH → "STATUS SHA256"
  docker exec "$1" python -c '
import hashlib, sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen("http://127.0.0.1:8000" + sys.argv[1], timeout=30)
    print(r.status, hashlib.sha256(r.read()).hexdigest())
except urllib.error.HTTPError as e:
    print(e.code, "-")' "$2" 2>&1 || echo "000 -"
}
shas=()
for c in "${APPS[@]}"; do shas+=("$(in_replica_sha "$c" "/api/v1/results/$ID/mask")"); done
if [ "${shas[0]%% *}" = 200 ] && [ "${shas[0]}" = "${shas[1]}" ]; then
  pass shared-store "both replicas serve $ID's mask: 200, sha256 ${shas[0]#* }"
else
  fail shared-store "replica answers: ${shas[*]}"
fi

# --- 3. concurrent keeps through nginx -----------------------------------------------------
N=8
for i in $(seq "$N"); do (keep "$WORK/c$i.json" >"$WORK/c$i.code") & done
wait
summary_line=$(python3 - "$WORK" "$N" <<'PY'
import json, pathlib, sys
work, n = pathlib.Path(sys.argv[1]), int(sys.argv[2])
codes = [(work / f"c{i}.code").read_text().strip() for i in range(1, n + 1)]
ids = []
for i in range(1, n + 1):
    try:
        ids.append(json.loads((work / f"c{i}.json").read_text()).get("id"))
    except (OSError, ValueError):
        ids.append(None)
ok = codes.count("200") == n and None not in ids and len(set(ids)) == n
(work / "ids.txt").write_text(" ".join(i for i in ids if i))
print("ok" if ok else "bad", f"{codes.count('200')}/{n} answered 200, {len(set(i for i in ids if i))} distinct ids")
PY
)
read -r verdict rest <<<"$summary_line"
[ "$verdict" = ok ] && pass concurrent-keeps "$rest" || fail concurrent-keeps "$rest"
# nginx spread them: each replica's access log has some of the keeps.
per=()
for c in "${APPS[@]}"; do per+=("$(docker logs "$c" 2>&1 | grep -c 'POST /api/v1/segment' || true)"); done
[ "${per[0]}" -ge 1 ] && [ "${per[1]}" -ge 1 ] && pass load-spread "keeps served per replica: ${per[*]}" \
  || fail load-spread "keeps served per replica: ${per[*]}"
IDS=$(cat "$WORK/ids.txt")

# --- 4. the store's own check, from a replica ---------------------------------------------
out=$(docker exec "${APPS[0]}" rustseg store check 2>&1) && rc=0 || rc=$?
[ "$rc" = 0 ] && pass store-check "$(tail -1 <<<"$out" | cut -c1-110)" || fail store-check "exit $rc: $(tail -3 <<<"$out" | tr '\n' ' ')"

# --- 5. down (volume kept) and up: the records are still there ---------------------------
compose down >/dev/null 2>&1
start=$(date +%s)
compose up -d --no-build >"$WORK/up2.log" 2>&1 || abort restart "docker-compose up failed again"
until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$BASE/healthz" || true)" = 200 ]; do
  [ $(( $(date +%s) - start )) -ge 420 ] && abort restart "no /healthz after down/up"
  sleep 3
done
missing=0
for id in $ID $IDS; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 "$BASE/api/v1/results/$id/mask" || true)
  [ "$code" = 200 ] || missing=$((missing + 1))
done
total=$(wc -w <<<"$ID $IDS")
[ "$missing" = 0 ] && [ "$total" = $((N + 1)) ] \
  && pass after-down-up "all $total kept masks served after down/up ($(( $(date +%s) - start )) s)" \
  || fail after-down-up "$missing of $total kept masks missing after down/up (expected $((N + 1)) ids)"

summary
[ "$FAILED" -eq 0 ]
