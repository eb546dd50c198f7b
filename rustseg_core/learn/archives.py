"""A labelling tool's download as it arrives, a ``.zip`` (CVAT, Roboflow, Label Studio's
exports with photos) or a ``.tar`` (Supervisely's, plain or compressed), unpacked for
``rustseg import`` to read.

It is unpacked beside the import's output folder, under the name of an import's working
folder, so that one a killed process left behind is removed by the next import there.
"""
from __future__ import annotations

import os
import shutil
import tarfile
import uuid
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterator

from .annotations import (AnnotationError, Export, check_new_output, remove_abandoned_imports,
                          staging_prefix)

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


def is_archive(path: str | Path) -> bool:
    """Whether ``path`` is a zip or tar file: named so (a damaged one too, to be refused as
    such), or one by its content, whatever its name."""
    path = Path(path)
    return path.is_file() and (path.name.lower().endswith(ARCHIVE_SUFFIXES) or zipfile.is_zipfile(path)
                               or tarfile.is_tarfile(path))


@contextmanager
def unpacked(archive: str | Path, out: str | Path) -> Iterator[Path]:
    """The folder ``archive`` unpacks to, beside ``out`` while the ``with`` lasts: the
    archive's one top folder when it holds only that (a project packed whole), else its
    root. Refused before anything is written: a damaged archive, and one whose unpacked
    size, twice over (unpacked, then imported), is more than the disk's free space. Entries
    stay inside the folder: zipfile drops ``..`` and a leading ``/``, and a tar is unpacked
    with tarfile's ``data`` filter, which refuses links out of it, device files and paths
    outside it. What macOS adds (``__MACOSX/``, ``._NAME``, ``.DS_Store``) is left out."""
    archive, out = Path(archive), Path(out)
    check_new_output(out)  # before a download of gigabytes is unpacked for nothing
    try:
        if zipfile.is_zipfile(archive) or archive.suffix.lower() == ".zip":
            opened = zipfile.ZipFile(archive)
            members = [m for m in opened.infolist() if not _finder_litter(m.filename)]
            size = sum(m.file_size for m in members)
        else:
            opened = tarfile.open(archive)
            members = [m for m in opened.getmembers() if not _finder_litter(m.name)]
            size = sum(m.size for m in members if m.isfile())
        with opened:
            out.parent.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(out.parent).free
            if 2 * size > free:  # unpacked, then its photos copied into the import
                raise AnnotationError(f"{archive} unpacks to {size / 2**30:.1f} GiB, and the import copies "
                                      f"its photos again: {out.parent} has {free / 2**30:.1f} GiB free")
            remove_abandoned_imports(out)
            folder = out.parent / f"{staging_prefix(out)}{os.getpid()}-unpack-{uuid.uuid4().hex[:8]}"
            folder.mkdir()
            try:
                if isinstance(opened, zipfile.ZipFile):
                    opened.extractall(folder, members)
                else:
                    opened.extractall(folder, members, filter="data")
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, EOFError, zlib.error) as e:
        raise AnnotationError(f"{archive} cannot be unpacked: {e}") from e
    try:
        entries = list(folder.iterdir())
        yield entries[0] if len(entries) == 1 and entries[0].is_dir() else folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def shown_as(exports: dict[str, Export], root: Path, archive: Path) -> dict[str, Export]:
    """``exports`` read from ``root`` (:func:`unpacked`), naming ``archive`` where they
    named the unpacked folder, which is gone once the import is written: in their source,
    as the import records it, and in why a photo was left out."""
    def named(text: str) -> str:
        return text.replace(str(root), str(archive))

    return {split: replace(export, source=named(export.source),
                           items=[replace(i, problem=named(i.problem)) if i.problem else i
                                  for i in export.items])
            for split, export in exports.items()}


def _finder_litter(name: str) -> bool:
    base = name.rstrip("/").rsplit("/", 1)[-1]
    return name.startswith("__MACOSX/") or base == ".DS_Store" or base.startswith("._")
