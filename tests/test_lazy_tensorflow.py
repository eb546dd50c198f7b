"""A web worker whose network runs on ONNX Runtime does not import TensorFlow (about
600 MiB of its memory) in any mode: the shipped export carries Grad-CAM++'s inputs, so the
paper's modes need no gradient of TensorFlow's."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "default"

CODE = """
import io, json, sys
from app import create_app
from tests.app_support import photo_bytes

app = create_app({"TESTING": True, "STORE_DIR": "", "SECRET_KEY": "t", "WTF_CSRF_ENABLED": False,
                  "MODEL": sys.argv[1]})
seen = {"start": "tensorflow" in sys.modules}
photo = photo_bytes(rust=True)
client = app.test_client()
def ask(**form):
    r = client.post("/api/v1/segment", data={"image": (io.BytesIO(photo), "p.jpg"), **form},
                    content_type="multipart/form-data")
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()
learned = ask()
seen["learned"] = "tensorflow" in sys.modules
standard = ask(mode="standard")
seen["standard"] = "tensorflow" in sys.modules
advanced = ask(mode="advanced")
seen["advanced"] = "tensorflow" in sys.modules
print(json.dumps({"seen": seen, "modes": [learned["mode"], standard["mode"], advanced["mode"]],
                  "p": [learned["probability"], standard["probability"], advanced["probability"]]}))
"""


@pytest.mark.skipif(not (MODEL / "model.onnx").is_file(), reason="the shipped model has no model.onnx")
def test_no_mode_on_onnx_imports_tensorflow():
    pytest.importorskip("onnxruntime")
    out = subprocess.run([sys.executable, "-c", CODE, str(MODEL)], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["modes"] == ["learned", "standard", "advanced"]
    assert got["seen"] == {"start": False, "learned": False, "standard": False, "advanced": False}
    # One pass of one graph: one probability, whichever mode.
    assert max(got["p"]) - min(got["p"]) < 1e-5
