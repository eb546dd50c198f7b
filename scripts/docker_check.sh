#!/usr/bin/env bash
# End-to-end check of the Docker image (not part of the default test run: a build takes
# minutes: ~20 from scratch, ~5 after a code edit, on a 2-core box with the vfs storage driver).
#
#   scripts/docker_check.sh              build the image if it is missing, then check it
#   scripts/docker_check.sh --build      always (re)build first
#   scripts/docker_check.sh --no-build   check the existing image, never build
#
# Options: --image NAME (default rustseg, or $RUSTSEG_IMAGE), --keep-volume (leave the store
# volume behind, for a look), --health-timeout SECONDS (default 300). RUSTSEG_DOCKER_BUILD=
# always|never|auto does what the build flags do.
#
# Everything runs with --network host (builds that reach the package index without a bridge,
# e.g. dockerd started with --bridge=none); the container listens on a free loopback port
# (RUSTSEG_BIND=127.0.0.1:PORT) and is only ever asked on 127.0.0.1.
#
# Checks: the app refuses to start without a secret key; /healthz answers 200 with the model
# loaded (the shipped one, found inside the installed package); an API upload with keep=true
# answers a result and a kept id; standard and advanced mode answer in their own mode; the
# record lands on the named volume; after
# `docker restart` the result page and its mask.png are still served; every process runs as
# uid 10001 (rustseg) and cannot write the code; `rustseg --version` and
# `rustseg dataset export` and `rustseg import` work; Docker's own HEALTHCHECK reports healthy.
# Prints one PASS/FAIL line per check and a summary; exit status 1 if any check failed.
# Needs: docker, curl, python3 with Pillow (to make the test photo).
# With Docker's vfs storage driver every image layer is a full copy (GBs here): remove old
# images now and then (docker image prune) or the disk fills up.
set -euo pipefail

IMAGE=${RUSTSEG_IMAGE:-rustseg}
BUILD=${RUSTSEG_DOCKER_BUILD:-auto}
KEEP_VOLUME=0
HEALTH_TIMEOUT=300
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=always ;;
    --no-build) BUILD=never ;;
    --image) IMAGE=$2; shift ;;
    --keep-volume) KEEP_VOLUME=1 ;;
    --health-timeout) HEALTH_TIMEOUT=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

for tool in docker curl python3; do
  command -v "$tool" >/dev/null || { echo "FAIL  setup: $tool not found" >&2; exit 2; }
done
python3 -c 'import PIL' 2>/dev/null || { echo "FAIL  setup: python3 has no Pillow (pip install pillow)" >&2; exit 2; }
docker info >/dev/null 2>&1 || { echo "FAIL  setup: docker daemon not reachable" >&2; exit 2; }

TAG="rustseg-check-$$-$RANDOM"
CONTAINER=$TAG
VOLUME="$TAG-store"
WORK=$(mktemp -d)
source "$ROOT/scripts/check_lib.sh"

cleanup() {
  local rc=$?
  docker rm -f "$TAG-nokey" >/dev/null 2>&1 || true
  if docker container inspect "$CONTAINER" >/dev/null 2>&1; then
    if [ "$FAILED" -gt 0 ] || [ "$rc" -ne 0 ]; then
      echo "----- last lines of the container's log -----"
      docker logs --tail 40 "$CONTAINER" 2>&1 | sed 's/^/      /' || true
    fi
    docker rm -f "$CONTAINER" >/dev/null 2>&1 || true
  fi
  if [ "$KEEP_VOLUME" = 1 ]; then
    docker volume inspect "$VOLUME" >/dev/null 2>&1 && echo "kept volume: $VOLUME (docker volume rm $VOLUME)"
  else
    docker volume rm -f "$VOLUME" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build -------------------------------------------------------------------------------
if [ "$BUILD" = always ] || { [ "$BUILD" = auto ] && ! docker image inspect "$IMAGE" >/dev/null 2>&1; }; then
  build_image "$IMAGE" "$ROOT"
elif [ "$BUILD" = never ] && ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  abort image "no image $IMAGE (run without --no-build)"
fi
created=$(docker image inspect -f '{{.Created}}' "$IMAGE")
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
info "image $IMAGE: created $created, $((size / 1024 / 1024)) MiB"

# --- helpers -----------------------------------------------------------------------------
PORT=$(free_port)
BASE="http://127.0.0.1:$PORT"
SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')

# http_get URL OUTFILE → prints the status code (000 when nothing answers)
http_get() { curl -s -o "$2" -w '%{http_code}' --max-time 30 "$1" || true; }

# wait_healthy LABEL: waits for /healthz = 200 with the model loaded, or the container's end
wait_healthy() {
  local start code running
  start=$(date +%s)
  while :; do
    code=$(http_get "$BASE/healthz" "$WORK/healthz.json")
    if [ "$code" = 200 ] && python3 - "$WORK/healthz.json" <<'EOF'
import json, sys
body = json.load(open(sys.argv[1]))
sys.exit(0 if body.get("status") == "ok" and body.get("model_loaded") is True else 1)
EOF
    then
      pass "$1" "200 after $(( $(date +%s) - start )) s: $(tr -d '\n' < "$WORK/healthz.json")"
      return 0
    fi
    running=$(docker container inspect -f '{{.State.Running}}' "$CONTAINER" 2>/dev/null || echo false)
    if [ "$running" != true ]; then
      abort "$1" "the container stopped (exit $(docker container inspect -f '{{.State.ExitCode}}' "$CONTAINER" 2>/dev/null))"
    fi
    if [ $(( $(date +%s) - start )) -ge "$HEALTH_TIMEOUT" ]; then
      abort "$1" "no healthy /healthz after ${HEALTH_TIMEOUT} s (last: HTTP $code $(head -c 300 "$WORK/healthz.json" 2>/dev/null))"
    fi
    sleep 2
  done
}

# in_container CMD...: runs in the check container as its own (image) user
in_container() { docker exec "$CONTAINER" "$@"; }

# --- 1. production refuses to start without a key ------------------------------------------
# (named, so that cleanup removes it should it start serving after all)
out=$(timeout 120 docker run --rm --name "$TAG-nokey" --network host \
  -e RUSTSEG_BIND="127.0.0.1:$PORT" "$IMAGE" 2>&1) && rc=0 || rc=$?
docker rm -f "$TAG-nokey" >/dev/null 2>&1 || true
if [ "$rc" -ne 0 ] && grep -q 'RUSTSEG_SECRET_KEY must be set' <<<"$out"; then
  pass no-key-refused "exit $rc: $(grep -m1 'RUSTSEG_SECRET_KEY' <<<"$out" | cut -c1-90)"
else
  fail no-key-refused "exit $rc without RUSTSEG_SECRET_KEY: $(tail -3 <<<"$out" | tr '\n' ' ' | cut -c1-200)"
fi

# --- 2. start ------------------------------------------------------------------------------
docker volume create "$VOLUME" >/dev/null
docker run -d --name "$CONTAINER" --network host \
  -v "$VOLUME:/data/store" \
  -e RUSTSEG_SECRET_KEY="$SECRET" \
  -e RUSTSEG_BIND="127.0.0.1:$PORT" \
  "$IMAGE" >/dev/null
info "container $CONTAINER on $BASE, store volume $VOLUME"
wait_healthy healthz

# The shipped model comes from the installed package, not from RUSTSEG_MODEL or a checkout.
model_dir=$(in_container python -c 'from rustseg_core.pipeline.model_files import shipped_model_dir as d; print(d())' 2>&1) || true
if [[ "$model_dir" == /opt/venv/* ]] && ! in_container printenv RUSTSEG_MODEL >/dev/null 2>&1; then
  pass shipped-model "from the package: $model_dir"
else
  fail shipped-model "shipped_model_dir() = $model_dir (RUSTSEG_MODEL=$(in_container printenv RUSTSEG_MODEL 2>/dev/null || echo unset))"
fi

code=$(http_get "$BASE/" "$WORK/index.html")
if [ "$code" = 200 ] && grep -qi '<form' "$WORK/index.html"; then
  pass home-page "GET / 200 ($(wc -c < "$WORK/index.html") bytes, templates found)"
else
  fail home-page "GET / → $code"
fi

# --- 3. API upload with keep=true ----------------------------------------------------------
test_photo "$WORK/rust.jpg"
code=$(curl -s -o "$WORK/segment.json" -w '%{http_code}' --max-time 180 \
  -F "image=@$WORK/rust.jpg;type=image/jpeg" -F keep=true "$BASE/api/v1/segment" || true)
if [ "$code" != 200 ]; then
  abort api-upload "POST /api/v1/segment → HTTP $code: $(head -c 300 "$WORK/segment.json" 2>/dev/null)"
fi
# id, result path, sha256 of the mask from the API answer (or the reason it is wrong)
if ! parsed=$(python3 - "$WORK/segment.json" "$WORK/api_mask.png" <<'EOF'
import base64, hashlib, json, sys
from urllib.parse import urlsplit
body = json.load(open(sys.argv[1]))
problems = []
if not isinstance(body.get("probability"), (int, float)): problems.append("no probability")
if not body.get("decision"): problems.append("no decision")
mask = base64.b64decode(body.get("mask_png_base64") or "")
if not mask.startswith(b"\x89PNG"): problems.append("mask_png_base64 is not a PNG")
open(sys.argv[2], "wb").write(mask)
if body.get("kept") is not True: problems.append(f"kept={body.get('kept')!r} {body.get('keep_error', '')}")
if not body.get("id") or not body.get("result_url"): problems.append("no id/result_url")
if problems:
    print("; ".join(problems)); sys.exit(1)
print(body["id"], urlsplit(body["result_url"]).path, hashlib.sha256(mask).hexdigest(),
      body["result_url"], f"probability={body['probability']:.3f}", f"decision={body['decision']}")
EOF
); then
  abort api-upload "$parsed"
fi
read -r ID RESULT_PATH MASK_SHA RESULT_URL PROB_DECISION <<<"$parsed"
pass api-upload "200, $PROB_DECISION, kept id=$ID"
# The answer's absolute URL must name the address the client used (no foreign host).
if [ "$RESULT_URL" = "$BASE$RESULT_PATH" ]; then
  pass result-url "$RESULT_URL"
else
  fail result-url "$RESULT_URL (expected $BASE$RESULT_PATH)"
fi

# The paper's modes in the image (Grad-CAM++, CRF, K-means): each answers in its own mode.
for mode in standard advanced; do
  code=$(curl -s -o "$WORK/$mode.json" -w '%{http_code}' --max-time 180 \
    -F "image=@$WORK/rust.jpg;type=image/jpeg" -F mode=$mode "$BASE/api/v1/segment" || true)
  answered=$(python3 -c 'import json, sys; b = json.load(open(sys.argv[1])); print(b.get("mode"), "probability=%.3f" % b.get("probability", 0))' \
    "$WORK/$mode.json" 2>/dev/null || true)
  if [ "$code" = 200 ] && [[ "$answered" == "$mode "* ]]; then
    pass "api-$mode" "200, answered in $answered"
  else
    fail "api-$mode" "POST /api/v1/segment mode=$mode → HTTP $code: $(head -c 200 "$WORK/$mode.json" 2>/dev/null)"
  fi
done

# --- 4. the kept record is on the volume ---------------------------------------------------
# Read through the volume alone, in a second container: proves it is not in the container layer.
on_volume=$(docker run --rm --network none -v "$VOLUME:/x:ro" --entrypoint sh "$IMAGE" \
  -c "ls /x/store.sqlite3 >/dev/null && ls /x/items/$ID" 2>&1 | tr '\n' ' ') || true
missing=""
for f in mask.png image.jpg summary.json; do
  grep -qw "$f" <<<"$on_volume" || missing="$missing $f"
done
if [ -z "$missing" ] && grep -q 'original\.' <<<"$on_volume"; then
  pass kept-on-volume "$VOLUME: store.sqlite3 + items/$ID/{ $on_volume}"
else
  fail kept-on-volume "items/$ID on $VOLUME: '$on_volume' (missing:${missing:- original.*})"
fi
owner=$(in_container stat -c '%u:%U %a' /data/store 2>&1) || true
if [[ "$owner" == 10001:rustseg* ]]; then pass store-owner "/data/store $owner"; else fail store-owner "/data/store $owner"; fi

# --- 5. survives a restart -----------------------------------------------------------------
docker restart -t 30 "$CONTAINER" >/dev/null
wait_healthy healthz-after-restart
code=$(http_get "$BASE$RESULT_PATH" "$WORK/result.html")
if [ "$code" = 200 ] && grep -q "$ID" "$WORK/result.html"; then
  pass result-after-restart "GET $RESULT_PATH 200"
else
  fail result-after-restart "GET $RESULT_PATH → $code"
fi
code=$(http_get "$BASE$RESULT_PATH/mask.png" "$WORK/kept_mask.png")
kept_sha=$(python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$WORK/kept_mask.png" 2>/dev/null || echo none)
if [ "$code" = 200 ] && [ "$(head -c 4 "$WORK/kept_mask.png" | od -An -c | tr -d ' ')" = '211PNG' ]; then
  if [ "$kept_sha" = "$MASK_SHA" ]; then
    pass mask-after-restart "GET $RESULT_PATH/mask.png 200, same bytes as the API's mask"
  else
    pass mask-after-restart "GET $RESULT_PATH/mask.png 200 (a PNG; not byte-identical to the API's)"
  fi
else
  fail mask-after-restart "GET $RESULT_PATH/mask.png → $code"
fi

# --- 6. unprivileged ----------------------------------------------------------------------
who=$(in_container sh -c 'echo "$(id -u):$(id -un)"' 2>&1) || true
[ "$who" = "10001:rustseg" ] && pass exec-user "docker exec runs as $who" || fail exec-user "docker exec runs as $who"
# Every process of the container (gunicorn master and workers), from /proc inside it.
procs=$(in_container python -c '
import os
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        uid = next(l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("Uid:"))
        cmd = " ".join(open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace").split())
    except OSError:
        continue
    print(uid, cmd[:60])  # one line per process: a multi-line -c program is joined
' 2>&1) || true
n_gunicorn=$(grep -c 'gunicorn' <<<"$procs" || true)
others=$(awk '$1 != "10001"' <<<"$procs")
if [ "$n_gunicorn" -ge 2 ] && [ -z "$others" ]; then
  pass process-user "all $(wc -l <<<"$procs") processes uid 10001 ($n_gunicorn gunicorn: master + workers)"
else
  fail process-user "gunicorn processes: $n_gunicorn; not uid 10001: ${others:-none}"
fi
writable=$(in_container python -c '
import os, app, rustseg_core
paths = ["/srv/rustseg", "/srv/rustseg/wsgi.py", "/srv/rustseg/gunicorn.conf.py", "/opt/venv",
         os.path.dirname(app.__file__), os.path.dirname(rustseg_core.__file__)]
print(" ".join(p for p in paths if os.access(p, os.W_OK)) or "-",
      "store-writable" if os.access("/data/store", os.W_OK) else "store-READ-ONLY")
' 2>&1) || true
if [ "$writable" = "- store-writable" ] && ! in_container touch /srv/rustseg/probe 2>/dev/null; then
  pass code-read-only "code in /srv/rustseg and /opt/venv not writable; /data/store writable"
else
  fail code-read-only "writable: $writable"
fi

# --- 7. the command line -----------------------------------------------------------------
want=$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$ROOT/pyproject.toml" 2>/dev/null || echo "")
version=$(in_container rustseg --version 2>&1) || true
if [[ "$version" == "rustseg ${want}"* ]] && [ -n "$want" ]; then
  pass cli-version "$version"
elif [[ "$version" == rustseg\ * ]] && [ -z "$want" ]; then
  pass cli-version "$version"
else
  fail cli-version "'$version' (pyproject.toml: ${want:-?})"
fi
export_out=$(in_container sh -c 'rustseg dataset export /tmp/export && cat /tmp/export/labels.csv' 2>&1) || true
if grep -q "$ID" <<<"$export_out"; then
  pass cli-export "$(head -1 <<<"$export_out" | cut -c1-110)"
else
  fail cli-export "$(tail -3 <<<"$export_out" | tr '\n' ' ' | cut -c1-200)"
fi

# A labelling tool's export imported inside the image (pycocotools rasterises its polygon).
import_out=$(docker exec -i "$CONTAINER" sh -c 'python - && rustseg import /tmp/coco --out /tmp/imported' 2>&1 <<'PY'
import json, os
from PIL import Image
os.makedirs("/tmp/coco", exist_ok=True)
Image.new("RGB", (40, 30), (90, 90, 90)).save("/tmp/coco/a.jpg")
json.dump({"images": [{"id": 1, "file_name": "a.jpg", "width": 40, "height": 30}],
           "annotations": [{"image_id": 1, "category_id": 1,
                            "segmentation": [[5, 5, 20, 5, 20, 20, 5, 20]]}],
           "categories": [{"id": 1, "name": "rust"}]}, open("/tmp/coco/_annotations.coco.json", "w"))
PY
) || true
if grep -q "1 with corrosion drawn" <<<"$import_out"; then
  pass cli-import "$(head -1 <<<"$import_out" | cut -c1-110)"
else
  fail cli-import "$(tail -3 <<<"$import_out" | tr '\n' ' ' | cut -c1-200)"
fi

# --- 8. Docker's own HEALTHCHECK (on the RUSTSEG_BIND port) ---------------------------------
start=$(date +%s)
while :; do
  health=$(docker container inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$CONTAINER")
  [ "$health" = healthy ] || [ "$health" = unhealthy ] || [ "$health" = none ] && break
  [ $(( $(date +%s) - start )) -ge 150 ] && break
  sleep 3
done
if [ "$health" = healthy ]; then
  pass docker-healthcheck "healthy"
else
  last=$(docker container inspect -f '{{with .State.Health}}{{range .Log}}{{.ExitCode}}: {{.Output}} {{end}}{{end}}' "$CONTAINER" | tail -c 300)
  fail docker-healthcheck "$health after $(( $(date +%s) - start )) s: $last"
fi

summary
[ "$FAILED" -eq 0 ]
