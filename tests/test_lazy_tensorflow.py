"""A web worker whose learned mode runs on ONNX Runtime does not import TensorFlow (about
600 MiB of its memory) until a request asks for one of the paper's modes."""
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
print(json.dumps({"seen": seen, "modes": [learned["mode"], standard["mode"]],
                  "p": [learned["probability"], standard["probability"]]}))
"""


@pytest.mark.skipif(not (MODEL / "model.onnx").is_file(), reason="the shipped model has no model.onnx")
def test_learned_mode_on_onnx_never_imports_tensorflow():
    pytest.importorskip("onnxruntime")
    out = subprocess.run([sys.executable, "-c", CODE, str(MODEL)], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["modes"] == ["learned", "standard"]
    assert got["seen"] == {"start": False, "learned": False, "standard": True}
    # Both runtimes see the same photo the same way: one probability, whichever mode.
    assert abs(got["p"][0] - got["p"][1]) < 1e-3
