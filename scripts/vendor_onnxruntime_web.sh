#!/usr/bin/env bash
# Re-vendor onnxruntime-web (npm, MIT) into static/vendor/onnxruntime_web: the WebAssembly
# build only (the phone runs the model on its CPU), served by the app itself (no CDN).
# Usage: scripts/vendor_onnxruntime_web.sh [VERSION]   (default: the pinned one)
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="${1:-1.30.0}"
DEST=static/vendor/onnxruntime_web
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent "onnxruntime-web@$VERSION" >/dev/null && tar xzf onnxruntime-web-*.tgz)
for f in ort.wasm.min.mjs ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm; do
  cp "$TMP/package/dist/$f" "$DEST/$f"
done
grep -q '"license": "MIT"' "$TMP/package/package.json"
{
  echo "onnxruntime-web $VERSION (npm), MIT licence (LICENSE); files from its dist/:"
  (cd "$DEST" && sha256sum ort.wasm.min.mjs ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm)
} > "$DEST/VERSION"
cat "$DEST/VERSION"
