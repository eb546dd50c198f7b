"""``rustseg average``: the weight mean of checkpoints of one run, and what it refuses."""
import json
import shutil

import numpy as np
import pytest

from rustseg_core.cli import main
from rustseg_core.learn.average import AverageError, average_weights
from rustseg_core.pipeline.model import load_bundle


def test_average_weights_is_the_elementwise_mean_in_each_dtype():
    a = [np.array([1.0, 3.0], np.float32), np.array([[2]], np.int64)]
    b = [np.array([3.0, 5.0], np.float32), np.array([[4]], np.int64)]
    mean = average_weights([a, b])
    np.testing.assert_array_equal(mean[0], [2.0, 4.0])
    assert mean[0].dtype == np.float32 and mean[1].dtype == np.int64 and mean[1][0, 0] == 3
    with pytest.raises(AverageError, match="architecture"):
        average_weights([a, [a[0], np.zeros((2, 2))]])


def test_cli_writes_the_mean_of_a_model_and_a_checkpoint(tiny_unet_dir, tmp_path, capsys):
    src = tmp_path / "src"
    shutil.copytree(tiny_unet_dir, src)
    meta = json.loads((src / "rustseg.json").read_text())
    meta["info"].update(onnx={"files": {"model.onnx": {}}}, val_auc=0.9)  # of the base's weights
    (src / "rustseg.json").write_text(json.dumps(meta))
    # A checkpoint of the same architecture: every weight 1 higher.
    model = load_bundle(src)
    w_model = model.model.get_weights()
    model.model.set_weights([w + 1 for w in w_model])
    last = tmp_path / "shifted.weights.h5"
    model.model.save_weights(last)
    rc = main(["average", "--base", str(src), str(src), str(last), "--out", str(tmp_path / "avg")])
    assert rc == 0, capsys.readouterr().err
    avg = load_bundle(tmp_path / "avg")
    for got, base in zip(avg.model.get_weights(), w_model):
        np.testing.assert_allclose(got, base + 0.5, rtol=1e-6, atol=1e-6)
    assert avg.info["averaged_from"] == [str(src), str(last)] and not {"onnx", "val_auc"} & set(avg.info)
    assert avg.info["val_mask_photos"] == meta["info"]["val_mask_photos"]
    assert avg.spec == model.spec and avg.threshold == model.threshold


def test_kept_epochs_of_a_run_average_into_a_model(tiny_unet_dir, tmp_path, capsys):
    """`train --keep-epochs 2` keeps the last two epochs' weights, and they average."""
    from rustseg_core.learn.train_masks import epoch_weights

    kept = [epoch_weights(tiny_unet_dir, e) for e in (1, 2, 3)]
    assert [k.is_file() for k in kept] == [False, True, True]
    base = load_bundle(tiny_unet_dir)
    ends = []
    for k in kept[1:]:
        base.model.load_weights(k)
        ends.append(base.model.get_weights())
    assert any(not np.array_equal(a, b) for a, b in zip(*ends))  # two different epochs
    base.model.load_weights(tiny_unet_dir / "last.weights.h5")
    assert all(np.array_equal(a, b) for a, b in zip(base.model.get_weights(), ends[1]))
    rc = main(["average", "--base", str(tiny_unet_dir), *map(str, kept[1:]), "--out", str(tmp_path / "avg")])
    assert rc == 0, capsys.readouterr().err
    for got, a, b in zip(load_bundle(tmp_path / "avg").model.get_weights(), *ends):
        np.testing.assert_allclose(got, (a.astype(np.float64) + b) / 2, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("held_out", [["someone_else.jpg"], []], ids=["others", "none"])
def test_a_model_with_other_held_out_photos_is_refused(tiny_unet_dir, tmp_path, capsys, held_out):
    other = tmp_path / "other"
    shutil.copytree(tiny_unet_dir, other)
    meta = json.loads((other / "rustseg.json").read_text())
    meta["info"]["val_mask_photos"] = held_out
    (other / "rustseg.json").write_text(json.dumps(meta))
    rc = main(["average", "--base", str(tiny_unet_dir), str(tiny_unet_dir), str(other),
               "--out", str(tmp_path / "avg")])
    err = capsys.readouterr().err
    assert rc == 2 and "held out other validation photos" in err, err
    assert not (tmp_path / "avg").exists()


def test_the_same_held_out_photos_in_another_order_are_accepted(tiny_unet_dir, tmp_path, capsys):
    base, other = tmp_path / "base", tmp_path / "other"
    for folder, photos in ((base, ["a.jpg", "b.jpg"]), (other, ["b.jpg", "a.jpg"])):
        shutil.copytree(tiny_unet_dir, folder)
        meta = json.loads((folder / "rustseg.json").read_text())
        meta["info"]["val_mask_photos"] = photos
        (folder / "rustseg.json").write_text(json.dumps(meta))
    rc = main(["average", "--base", str(base), str(base), str(other), "--out", str(tmp_path / "avg")])
    assert rc == 0, capsys.readouterr().err


def test_a_checkpoint_of_another_architecture_is_one_clear_line(tiny_unet_dir, tiny_model_dir, tmp_path,
                                                                capsys):
    rc = main(["average", "--base", str(tiny_unet_dir), str(tiny_unet_dir), str(tiny_model_dir),
               "--out", str(tmp_path / "avg")])
    err = capsys.readouterr().err
    assert rc == 2 and "another architecture" in err, err
