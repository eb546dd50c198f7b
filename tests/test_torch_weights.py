"""The torch-free reader of legacy PyTorch state dicts (the pretrained encoder's format)."""
import io
import pickle
import zipfile

import numpy as np
import pytest

from rustseg_core.learn.torch_weights import (MAGIC_NUMBER, PROTOCOL_VERSION, StateDictError,
                                              read_state_dict, write_state_dict)


def _tensors():
    rng = np.random.default_rng(0)
    return {
        "_conv_stem.weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "_bn0.running_var": rng.random(4).astype(np.float32),
        "_bn0.num_batches_tracked": np.array(7, np.int64),
        "_fc.weight": rng.standard_normal((2, 5)).astype(np.float64),
        "half": rng.standard_normal((3,)).astype(np.float16),
    }


def test_round_trip_keeps_names_shapes_dtypes_and_values(tmp_path):
    path = tmp_path / "w.pth"
    write_state_dict(_tensors(), path)
    back = read_state_dict(path)
    assert list(back) == list(_tensors())
    for name, value in _tensors().items():
        assert back[name].shape == value.shape and back[name].dtype == value.dtype
        np.testing.assert_array_equal(back[name], value)
        assert back[name].flags.writeable  # a copy, not a view of the file's bytes


def _header() -> bytes:
    info = {"protocol_version": PROTOCOL_VERSION, "little_endian": True,
            "type_sizes": {"short": 2, "int": 4, "long": 4}}
    return b"".join(pickle.dumps(h, protocol=2) for h in (MAGIC_NUMBER, PROTOCOL_VERSION, info))


def test_a_pickle_that_names_any_other_global_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            import os
            return os.system, ("echo pwned > " + str(tmp_path / "ran"),)

    path = tmp_path / "evil.pth"
    path.write_bytes(_header() + pickle.dumps({"w": Evil()}, protocol=2))
    with pytest.raises(StateDictError, match="refusing to load"):
        read_state_dict(path)
    assert not (tmp_path / "ran").exists()


def test_globals_in_the_header_pickles_are_refused(tmp_path):
    path = tmp_path / "h.pth"
    path.write_bytes(pickle.dumps(io.BytesIO, protocol=2))
    with pytest.raises(StateDictError, match="magic number"):
        read_state_dict(path)


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b""), "cannot read the magic number"),
    (lambda p: p.write_bytes(pickle.dumps(12345)), "wrong magic number"),
    (lambda p: p.write_bytes(_header() + pickle.dumps([1, 2, 3], protocol=2)), "not a dict of tensors"),
    (lambda p: p.write_text("not a pickle at all"), "cannot read"),
])
def test_files_that_are_not_legacy_state_dicts(tmp_path, make, message):
    path = tmp_path / "x.pth"
    make(path)
    with pytest.raises(StateDictError, match=message):
        read_state_dict(path)


def test_zip_format_is_named(tmp_path):
    path = tmp_path / "new.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", b"")
    with pytest.raises(StateDictError, match="zip format"):
        read_state_dict(path)


def test_truncated_storage_bytes(tmp_path):
    path = tmp_path / "w.pth"
    write_state_dict(_tensors(), path)
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.raises(StateDictError, match="truncated"):
        read_state_dict(path)
