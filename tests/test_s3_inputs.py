"""``s3://`` inputs against moto's S3 server on 127.0.0.1 (no AWS): prefixes are listed
recursively, objects read, reruns resumed. Skipped when moto or pyarrow is missing, unless
``RUSTSEG_REQUIRE_RAY=1`` (CI), where that fails instead."""
from __future__ import annotations

import csv
import io
import os

import numpy as np
import pytest
from PIL import Image

from rustseg_core.cli import main
from tests.synthetic import rust_image

if os.environ.get("RUSTSEG_REQUIRE_RAY") == "1":  # CI installs both (requirements-dev.txt)
    import moto.server as moto_server
    import pyarrow.fs  # noqa: F401
else:
    moto_server = pytest.importorskip("moto.server")
    pytest.importorskip("pyarrow.fs")


@pytest.fixture
def bucket(monkeypatch):
    """A bucket 'survey' with two photos under site/ (one in a sub-folder) and a broken one."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for k, v in {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="survey")
    rng = np.random.default_rng(8)
    for key in ("site/a.jpg", "site/sub/b.jpg"):
        buf = io.BytesIO()
        Image.fromarray(rust_image(rng, 80, rust=True)[0]).save(buf, "JPEG")
        s3.put_object(Bucket="survey", Key=key, Body=buf.getvalue())
    s3.put_object(Bucket="survey", Key="site/broken.jpg", Body=b"not a photo")
    s3.put_object(Bucket="survey", Key="site/notes.txt", Body=b"not an image extension")
    yield s3
    server.stop()


def test_s3_prefix_is_listed_read_and_resumed(bucket, tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["segment", "s3://survey/site/", "--out", str(out), "--model", str(tiny_model_dir)]
    assert main(args) == 0
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["file"] for r in rows] == ["s3://survey/site/a.jpg", "s3://survey/site/broken.jpg",
                                         "s3://survey/site/sub/b.jpg"]
    assert rows[1]["error"] and not rows[0]["error"] and not rows[2]["error"]
    assert rows[0]["width"] == "80" and (out / "sub__b_mask.png").is_file()
    capsys.readouterr()
    assert main(args) == 0
    assert capsys.readouterr().out.count("(kept from an earlier run)") == 2


def test_missing_s3_prefix_is_one_clear_line(bucket, tiny_model_dir, tmp_path, capsys):
    rc = main(["segment", "s3://survey/elsewhere/", "--out", str(tmp_path / "o"),
               "--model", str(tiny_model_dir)])
    err = capsys.readouterr().err
    assert rc == 2 and "input not found: s3://survey/elsewhere/" in err and err.count("\n") == 1
