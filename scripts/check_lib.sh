# Shared by scripts/docker_check.sh and scripts/compose_check.sh (sourced): one PASS/FAIL line
# per check, a summary, and an abort for checks that later ones depend on.
PASSED=0
FAILED=0
FAILED_NAMES=()

pass() { PASSED=$((PASSED + 1)); printf 'PASS  %-28s %s\n' "$1" "${2:-}"; }
fail() { FAILED=$((FAILED + 1)); FAILED_NAMES+=("$1"); printf 'FAIL  %-28s %s\n' "$1" "${2:-}"; }
info() { printf '      %s\n' "$*"; }

summary() {
  echo "SUMMARY: $PASSED passed, $FAILED failed${FAILED_NAMES:+ (${FAILED_NAMES[*]})}"
  [ "$FAILED" -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
}

# Stops here with a summary: later checks need what this one failed to give.
abort() { fail "$1" "$2"; summary; exit 1; }

# free_port → an unused loopback TCP port
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# build_image IMAGE CONTEXT [DOCKERFILE]: docker build --network host, a PASS/abort line with
# the time it took
build_image() {
  local image=$1 context=$2 dockerfile=${3:-} log start
  log=$(mktemp "${TMPDIR:-/tmp}/rustseg-docker-build.XXXXXX.log")
  echo "      building $image (log: $log) ..."
  start=$(date +%s)
  if docker build --network host ${dockerfile:+-f "$dockerfile"} -t "$image" "$context" >"$log" 2>&1; then
    pass "build $image" "docker build --network host -t $image: $(( $(date +%s) - start )) s"
    rm -f "$log"
  else
    tail -30 "$log" | sed 's/^/      /'
    abort "build $image" "docker build failed after $(( $(date +%s) - start )) s (log: $log)"
  fi
}

# test_photo FILE: a small JPEG with an orange-brown blob on textured grey
test_photo() {
  python3 - "$1" <<'PY'
import random, sys
from PIL import Image, ImageDraw, ImageFilter
random.seed(7)
img = Image.new("RGB", (320, 240), (128, 128, 128))
draw = ImageDraw.Draw(img)
for _ in range(400):  # a little texture, so the photo is not a flat synthetic block
    x, y = random.randrange(320), random.randrange(240)
    g = random.randrange(110, 146)
    draw.point((x, y), (g, g, g))
draw.ellipse((100, 70, 230, 180), fill=(165, 82, 32))   # orange-brown blob
draw.ellipse((130, 95, 190, 150), fill=(120, 55, 25))
img.filter(ImageFilter.GaussianBlur(1.5)).save(sys.argv[1], "JPEG", quality=90)
PY
}
