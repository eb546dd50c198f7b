// The server's learned mode, step by step, for the phone's own analysis: the same resizes
// (rustseg_core/pipeline/model.py preprocess, resize.py upsample), the same threshold, the same
// overlay (overlay.py overlay_mask) and the same grade rules (inspection/grades.py, whose tables
// come from GET /api/v1/grades). No page code here: arrays in, arrays out.

// The working size: the long side at most maxSide (decode's thumbnail), never enlarged.
export function workingSize(width, height, maxSide) {
  const s = maxSide / Math.max(width, height);
  if (s >= 1) return [width, height];
  return [Math.max(1, Math.round(width * s)), Math.max(1, Math.round(height * s))];
}

// Weights of an exact box (area) resample of n input samples onto m outputs, as TensorFlow's
// "area" resize: output i averages the input interval [i n/m, (i+1) n/m), partial pixels
// counted by how much of them it covers.
function areaWeights(n, m) {
  const scale = n / m, out = [];
  for (let i = 0; i < m; i++) {
    const a = i * scale, b = (i + 1) * scale, taps = [];
    for (let j = Math.floor(a); j < Math.min(n, Math.ceil(b)); j++) {
      const w = Math.min(b, j + 1) - Math.max(a, j);
      if (w > 0) taps.push([j, w / scale]);
    }
    out.push(taps);
  }
  return out;
}

// Bilinear weights with half-pixel centres (TensorFlow's bilinear and OpenCV's INTER_LINEAR).
function linearWeights(n, m) {
  const scale = n / m, out = [];
  for (let i = 0; i < m; i++) {
    const x = Math.min(Math.max((i + 0.5) * scale - 0.5, 0), n - 1);
    const j = Math.floor(x), f = x - j;
    out.push(j + 1 < n && f > 0 ? [[j, 1 - f], [j + 1, f]] : [[j, 1]]);
  }
  return out;
}

// Separable resize of a planar float image (channels × h × w) to (outW, outH).
function resizePlanar(src, w, h, channels, outW, outH, weights) {
  const wx = weights(w, outW), wy = weights(h, outH);
  const tmp = new Float32Array(channels * h * outW);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < h; y++) {
      const row = (c * h + y) * w, orow = (c * h + y) * outW;
      for (let x = 0; x < outW; x++) {
        let v = 0;
        for (const [j, k] of wx[x]) v += src[row + j] * k;
        tmp[orow + x] = v;
      }
    }
  }
  const out = new Float32Array(channels * outH * outW);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < outH; y++) {
      const orow = (c * outH + y) * outW;
      for (const [j, k] of wy[y]) {
        const row = (c * h + j) * outW;
        for (let x = 0; x < outW; x++) out[orow + x] += tmp[row + x] * k;
      }
    }
  }
  return out;
}

// RGBA ImageData → the model's input: NHWC float32 [1, side, side, 3] in [0, 1], the whole
// photo squashed to a square, "area" when shrinking and bilinear when enlarging (preprocess).
export function modelInput(image, side) {
  const { width: w, height: h, data } = image;
  const planar = new Float32Array(3 * w * h);
  for (let i = 0, n = w * h; i < n; i++) {
    planar[i] = data[4 * i] / 255;
    planar[n + i] = data[4 * i + 1] / 255;
    planar[2 * n + i] = data[4 * i + 2] / 255;
  }
  const shrink = Math.max(w, h) > side;
  const small = resizePlanar(planar, w, h, 3, side, side, shrink ? areaWeights : linearWeights);
  const n = side * side, out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    out[3 * i] = small[i];
    out[3 * i + 1] = small[n + i];
    out[3 * i + 2] = small[2 * n + i];
  }
  return out;
}

// The pixel map (side × side) at the working size, cut at the mask threshold: OpenCV's area
// resize when the result is smaller in area, bilinear otherwise (resize.py upsample).
export function maskAt(pixels, side, width, height, threshold) {
  const weights = width * height < side * side ? areaWeights : linearWeights;
  const map = resizePlanar(pixels, side, side, 1, width, height, weights);
  const mask = new Uint8Array(width * height);
  let count = 0;
  for (let i = 0; i < mask.length; i++) if (map[i] > threshold) { mask[i] = 1; count++; }
  return { mask, area: count / mask.length };
}

// City-block distance of every pixel to the nearest pixel whose mask value is not `value`
// (outside the image counts as 0): n iterations of a 3×3 cross erode/dilate reach distance n.
function distanceTo(mask, w, h, value) {
  const far = w + h + 2, d = new Int32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (mask[i] !== value) { d[i] = 0; continue; }
      const up = y > 0 ? d[i - w] : (value ? 0 : far), left = x > 0 ? d[i - 1] : (value ? 0 : far);
      d[i] = Math.min(up, left) + 1;
    }
  }
  for (let y = h - 1; y >= 0; y--) {
    for (let x = w - 1; x >= 0; x--) {
      const i = y * w + x;
      if (!d[i]) continue;
      const down = y < h - 1 ? d[i + w] : (value ? 0 : far), right = x < w - 1 ? d[i + 1] : (value ? 0 : far);
      d[i] = Math.min(d[i], Math.min(down, right) + 1);
    }
  }
  return d;
}

// overlay_mask: the mask tinted into the photo, its border drawn in the contrasting colour
// with a dark line just outside it, so it reads on paint of the tint's own colour.
export function overlay(image, mask, colour, alpha, outline) {
  const { width: w, height: h } = image;
  const out = new ImageData(new Uint8ClampedArray(image.data), w, h);
  const px = out.data;
  const width = Math.max(1, Math.floor(Math.max(w, h) / 400));
  const inside = distanceTo(mask, w, h, 1), outside = distanceTo(mask, w, h, 0);
  for (let i = 0; i < w * h; i++) {
    const p = 4 * i;
    if (mask[i]) {
      if (inside[i] <= width) {
        px[p] = outline[0]; px[p + 1] = outline[1]; px[p + 2] = outline[2];
      } else {
        for (let c = 0; c < 3; c++) px[p + c] = px[p + c] * (1 - alpha) + colour[c] * alpha;
      }
    } else if (outside[i] <= width) {
      px[p] = 0; px[p + 1] = 0; px[p + 2] = 0;
    }
  }
  return out;
}

// The grades of grades.py from its own tables (GET /api/v1/grades).
export function grade(areaFraction, tables) {
  const p = 100 * areaFraction;
  const d610 = (tables.astm_d610.find(([, limit]) => p <= limit) || [0])[0];
  const ri = (tables.iso4628.cuts.find(([, cut]) => p <= cut) || [tables.iso4628.top])[0];
  const cut = tables.severity.cutoffs, classes = tables.severity.classes;
  const k = cut.findIndex((limit) => p <= limit);
  const severity = classes[k === -1 ? classes.length - 1 : k];
  return { percent: p, d610, ri, riReference: tables.iso4628.reference[ri], severity };
}
