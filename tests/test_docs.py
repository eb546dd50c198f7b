"""What README.md states about the API must match what the code does."""
from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _api_example() -> dict:
    block = re.search(r"```json\n(\{.*?\})\n```", README, re.S).group(1)
    return json.loads(block.replace('"iVBORw0KGgo..."', '""'))


def test_api_example_shows_the_shipped_models_threshold_and_real_fields(client):
    import io

    from tests.app_support import photo_bytes

    example = _api_example()
    shipped = json.loads((ROOT / "models" / "default" / "rustseg.json").read_text())
    assert example["threshold"] == shipped["threshold"]
    answer = client.post("/api/v1/segment", data={"image": (io.BytesIO(photo_bytes()), "p.jpg")},
                         content_type="multipart/form-data").get_json()
    assert set(example) == set(answer)
    assert example["decision"] in ("corrosion", "not_corrosion")


def test_readme_does_not_promise_the_papers_fixed_threshold():
    assert "above 0.5 → corrosion" not in README
    assert "no_corrosion" not in README
