"""Shared fixtures: a tiny classifier trained here on synthetic rust images, and the web app
built around it."""
from __future__ import annotations

import numpy as np
import pytest

from tests.synthetic import rust_image


def _jpeg_round_trip(img: np.ndarray, quality: int = 92) -> np.ndarray:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A model bundle (input 64, base width 4, no batch norm) trained for a few seconds on synthetic
    rust-patch / plain-metal images; good enough to separate the two classes."""
    from rustseg_core.config import preset
    from rustseg_core.tf_runtime import keras as _keras
    from rustseg_core.pipeline.model import ModelBundle, build_classifier, logit_model, save_bundle

    keras = _keras()
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    xs, ys = [], []
    for i in range(160):
        img, _ = rust_image(rng, 64, rust=bool(i % 2))
        # Half of them as a JPEG file gives them back: the tests' photos are JPEGs, and a
        # model that saw only lossless noise called every JPEG of rust clean on CPUs whose
        # oneDNN kernels round differently (a test that passed or failed by machine).
        xs.append(_jpeg_round_trip(img) if i % 4 < 2 else img)
        ys.append(i % 2)
    x = np.stack(xs).astype(np.float32) / 255.0
    y = np.asarray(ys, np.float32)[:, None]
    spec = preset("cpu", input_size=64, base_width=4, batch_norm=False, dropout=0.0)
    model = build_classifier(spec, seed=0)
    view = logit_model(model)
    view.compile(keras.optimizers.Adam(3e-3), keras.losses.BinaryCrossentropy(from_logits=True))
    view.fit(x, y, epochs=12, batch_size=16, verbose=0)
    out = tmp_path_factory.mktemp("tiny_model")
    save_bundle(ModelBundle(model=model, spec=spec, info={"version": "tiny-test"}), out)
    return out


@pytest.fixture(scope="session")
def tiny_unet_dir(tiny_model_dir, tmp_path_factory):
    """A U-Net (input 32, base width 4) grown from the tiny classifier and trained for a few
    seconds by ``train_masks`` on synthetic mask photos and labelled photos, two of them
    relabelled by a label audit (keeping the weights of its last two epochs)."""
    from rustseg_core.learn.train_masks import MaskTrainConfig, train_masks
    from tests.synthetic import write_labelled_folder, write_mask_folder

    data = tmp_path_factory.mktemp("tiny_unet_data")
    write_mask_folder(data / "pixel", n=24, size=64, seed=1)
    write_labelled_folder(data / "labelled", n_per_class=12, size=64, seed=2)
    write_labelled_folder(data / "val", n_per_class=6, size=64, seed=3)
    # One label of each folder corrected by a label audit (tests/test_label_audit.py).
    (data / "audit.csv").write_text("file,label,audited\n"
                                    "labelled/corrosion/corrosion_000.jpg,corrosion,not_corrosion\n"
                                    "val/not_corrosion/not_corrosion_000.jpg,not_corrosion,corrosion\n")
    out = tmp_path_factory.mktemp("tiny_unet")
    cfg = MaskTrainConfig(input_size=48, cache_size=64, epochs=3, batch_size=8, learning_rate=3e-3,
                          init_from=str(tiny_model_dir), labelled_per_epoch=1.0, val_fraction=0.25,
                          keep_epochs=2, label_audit=str(data / "audit.csv"))
    train_masks([data / "pixel"], data / "labelled", out, cfg, command="test",
                val_labelled_dir=data / "val")
    return out


@pytest.fixture(scope="session")
def tiny_segmenter(tiny_model_dir):
    from rustseg_core.pipeline.segmenter import Segmenter

    return Segmenter.load(tiny_model_dir)


@pytest.fixture
def rust_photo():
    """A 160x120 synthetic photo with a rust blob, and its ground-truth mask."""
    img, mask = rust_image(np.random.default_rng(7), 160, rust=True)
    return img[:120], mask[:120]


@pytest.fixture
def store_dir(tmp_path):
    """Where the app's opt-in store lives in a test (not created until something is kept)."""
    return tmp_path / "store"


@pytest.fixture
def app(tiny_segmenter, store_dir):
    """The app with the tiny session model injected and a 1 MB upload limit (cheap 413s)."""
    from app import create_app

    return create_app({"TESTING": True, "SEGMENTER": tiny_segmenter, "STORE_DIR": str(store_dir),
                       "SECRET_KEY": "test-secret", "MAX_UPLOAD_MB": 1})


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL cluster for the whole session (see tests/postgres_support.py)."""
    import os

    from benchmarks.postgres import REQUIRE_ENV, PostgresServer, find_bindir

    bindir = find_bindir()
    if bindir is None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but no PostgreSQL binaries (apt-get install postgresql)")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    server = PostgresServer(bindir).start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres_server):
    """The URL of a fresh, empty database on the session's PostgreSQL."""
    return postgres_server.create_database()
