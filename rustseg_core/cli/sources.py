"""What ``rustseg segment`` was asked to read: files, folders, ``--from-list`` files and
``s3://`` prefixes, expanded into one ordered list of :class:`Source` (the same for every
engine, so their results.csv rows come in the same order).

S3 goes through pyarrow's filesystem layer (the one Ray Data uses); pyarrow is installed
with the ``ray`` extra and is optional otherwise.
"""
from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..pipeline.imageio import CAMERA_RAW_EXTENSIONS, IMAGE_EXTENSIONS
from ..vocabulary import BATCH_OUTPUTS, OUTPUTS

VIDEO_EXTENSIONS = {".mp4", ".mov", ".avi", ".mkv", ".m4v", ".webm"}
WANTED = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
S3 = "s3://"
# What marks a folder ``segment`` wrote into (its record of finished files), and the ends of
# the names of the files it writes there for each photo.
STATE_DIR = ".rustseg"
_OUTPUT_ENDS = tuple(f"_{OUTPUTS[k].key}.{OUTPUTS[k].extension}" for k in BATCH_OUTPUTS)


class SourceError(Exception):
    """Inputs that cannot be listed or read: missing files, no S3 support, a bad list file."""


@dataclass(frozen=True)
class Source:
    """One input file. ``uri`` is a local path or an ``s3://`` URI; ``stem`` names its
    outputs (unique within the batch); ``size`` and ``mtime`` tell a rerun whether it
    changed since its outputs were written."""

    uri: str
    stem: str
    size: int | None = None
    mtime: float | None = None

    @property
    def is_video(self) -> bool:
        return Path(self.uri).suffix.lower() in VIDEO_EXTENSIONS

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith(S3)


def read_list(path: str | Path) -> list[str]:
    """The entries of a ``--from-list`` file: one path or s3:// URI a line; blank lines and
    lines starting with ``#`` are ignored."""
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise SourceError(f"cannot read the list {path}: {e}") from None
    return [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]


def s3_filesystem():
    """pyarrow's S3 filesystem, or a :class:`SourceError` saying how to get it. Credentials
    and region come from the usual AWS variables and files; ``AWS_ENDPOINT_URL_S3`` or
    ``AWS_ENDPOINT_URL`` (as the AWS SDKs read them) points it at another S3 server, e.g.
    MinIO, which pyarrow does not do by itself."""
    try:
        from pyarrow.fs import S3FileSystem
    except ImportError:
        raise SourceError("s3:// inputs need pyarrow with S3 support: pip install 'rustseg[ray]' "
                          "(or pip install pyarrow)") from None
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return S3FileSystem(endpoint_override=endpoint) if endpoint else S3FileSystem()


def _local(p: Path, roots: list[Path]) -> Source:
    st = p.stat() if p.exists() else None
    return Source(str(p), _stem(p.parts, roots), st and st.st_size, st and st.st_mtime)


def _stem(parts: tuple[str, ...], roots: list[tuple[str, ...]] | list[Path]) -> str:
    """Path parts below the first root that holds them, joined by '__' (so photos of
    sub-folders do not collide); a file given on its own keeps its plain stem."""
    for root in roots:
        root_parts = root.parts if isinstance(root, Path) else root
        if parts[:len(root_parts)] == tuple(root_parts) and len(parts) > len(root_parts):
            rel = list(parts[len(root_parts):])
            rel[-1] = Path(rel[-1]).stem
            return "__".join(rel)
    return Path(parts[-1]).stem


def _s3_expand(uri: str) -> list[Source]:
    """An object, or every image/video object under a prefix (sorted by key)."""
    from pyarrow.fs import FileSelector, FileType

    fs = s3_filesystem()
    key = uri[len(S3):]
    try:
        info = fs.get_file_info(key)
        if info.type == FileType.File:
            return [Source(uri, Path(key).stem, info.size, info.mtime and info.mtime.timestamp())]
        if info.type != FileType.Directory:
            raise SourceError(f"input not found: {uri}")
        found = fs.get_file_info(FileSelector(key.rstrip("/"), recursive=True))
    except OSError as e:  # pyarrow reports credentials and network failures as OSError
        raise SourceError(f"cannot list {uri}: {e}") from None
    root = tuple(key.rstrip("/").split("/"))
    files = sorted((f for f in found if f.type == FileType.File
                    and Path(f.path).suffix.lower() in WANTED), key=lambda f: f.path)
    return [Source(S3 + f.path, _stem(tuple(f.path.split("/")), [root]), f.size,
                   f.mtime and f.mtime.timestamp()) for f in files]


@dataclass
class FolderSearch:
    """What a search of local folders found: ``wanted`` is segmented; the rest is left out,
    and said, since a person may have meant it."""

    wanted: list[Path] = field(default_factory=list)  # photos and videos, sorted
    raws: list[Path] = field(default_factory=list)  # camera RAW files with no photo of their name beside them
    clips: list[Path] = field(default_factory=list)  # Live Photo clips: a video beside a photo of its name
    outputs: list[Path] = field(default_factory=list)  # segment's own masks, overlays and heatmaps


def search(folder: Path) -> FolderSearch:
    """A folder's photos and videos, searched recursively, less what would be taken for photos
    in error:
    - the masks, overlays and heatmaps ``segment`` wrote there: ``segment photos --out
      photos/results`` (or ``--out photos``) run twice would read its own results, more of
      them each time;
    - a video beside a photo of the same name: an iPhone's Live Photo, copied off the phone
      as ``IMG_0001.HEIC`` + ``IMG_0001.MOV``, whose 3-second clip would add its frames to
      every photo's results;
    - camera RAW files, which are not read (those with a JPEG twin are not even said)."""
    found, raws = FolderSearch(), []
    for here, dirs, files in os.walk(folder):
        dirs.sort()
        results_here = STATE_DIR in dirs
        for name in files:
            path, suffix = Path(here) / name, Path(name).suffix.lower()
            if results_here and name.endswith(_OUTPUT_ENDS):
                found.outputs.append(path)
            elif suffix in WANTED and path.is_file():  # not a broken link
                found.wanted.append(path)
            elif suffix in CAMERA_RAW_EXTENSIONS:
                raws.append(path)
    photos = {(f.parent, f.stem.lower()) for f in found.wanted if f.suffix.lower() in IMAGE_EXTENSIONS}
    found.clips = [f for f in found.wanted if f.suffix.lower() in VIDEO_EXTENSIONS
                   and (f.parent, f.stem.lower()) in photos]
    found.wanted = sorted(set(found.wanted) - set(found.clips))
    found.raws = sorted(f for f in raws if (f.parent, f.stem.lower()) not in photos)
    found.clips.sort()
    found.outputs.sort()
    return found


class Sources(list):
    """What :func:`expand` found, in order, and what it left out: the local files that are
    byte-for-byte copies of an earlier one (``copies``: each copy's path and the path it
    repeats), and what its folder searches passed over (``left_out``: raws, clips, outputs)."""

    copies: dict[str, str]
    left_out: FolderSearch


def expand(inputs: list[str | Path]) -> Sources:
    """Files as given; folders (:func:`search`) and s3:// prefixes searched recursively for
    images and videos (sorted). Each file comes once: a file given again, or inside two
    given folders, is listed at its first place, and a local file whose bytes equal an
    earlier one's (``IMG_0001 (1).jpg``) is left out, so a survey counts each photo once.
    Stems are unique: ``a.jpg`` beside ``a.png`` are ``a_jpg`` and ``a_png``. A missing local
    input is a :class:`SourceError` naming all of them."""
    missing = [str(p) for p in inputs if not str(p).startswith(S3) and not Path(p).exists()]
    if missing:
        raise SourceError(f"input not found: {', '.join(missing)}")
    roots = [Path(p) for p in inputs if not str(p).startswith(S3) and Path(p).is_dir()]
    out: list[Source] = []
    left_out = FolderSearch()
    for given in inputs:
        if str(given).startswith(S3):
            out.extend(_s3_expand(str(given)))
            continue
        p = Path(given)
        if p.is_dir():
            found = search(p)
            out.extend(_local(f, roots) for f in found.wanted)
            left_out.raws += found.raws
            left_out.clips += found.clips
            left_out.outputs += found.outputs
        else:
            out.append(_local(p, roots))
    once: dict[str, Source] = {}  # by place, the first listing kept
    for source in out:
        once.setdefault(_place(source), source)
    once_only = list(once.values())
    copies = _copies(once_only)
    found = Sources(_unique_stems([s for s in once_only if s.uri not in copies]))
    found.copies = copies
    # Folders given inside one another are searched twice: each file said once.
    found.left_out = FolderSearch(raws=sorted(set(left_out.raws)), clips=sorted(set(left_out.clips)),
                                  outputs=sorted(set(left_out.outputs)))
    return found


def _place(source: Source) -> str:
    return source.uri if source.is_s3 else os.path.realpath(source.uri)


def _copies(sources: list[Source]) -> dict[str, str]:
    """Local files whose bytes equal another's, each mapped to the one kept: of a group, the
    shortest name (``IMG_0001.jpg``, not ``IMG_0001 (1).jpg``), then the first listed. Only
    files of one size are read, so most photos are not read here."""
    by_size: dict[int, list[Source]] = {}
    for s in sources:
        if not s.is_s3 and s.size:
            by_size.setdefault(s.size, []).append(s)
    copies: dict[str, str] = {}
    for group in (g for g in by_size.values() if len(g) > 1):
        same: dict[str, list[str]] = {}
        for s in group:
            try:
                with open(s.uri, "rb") as f:
                    digest = hashlib.file_digest(f, lambda: hashlib.blake2b(digest_size=16))
            except OSError:  # unreadable: left for the run to report
                continue
            same.setdefault(digest.hexdigest(), []).append(s.uri)
        for uris in same.values():
            kept = min(uris, key=lambda u: len(Path(u).name))
            copies.update({u: kept for u in uris if u != kept})
    return copies


def _unique_stems(sources: list[Source]) -> list[Source]:
    """Each source's outputs are named by its stem: sources of one stem (``a.jpg`` beside
    ``a.png``) take their extension into it, then a number if that is not enough."""
    stems = Counter(s.stem for s in sources)
    sources = [replace(s, stem=f"{s.stem}_{Path(s.uri).suffix.lstrip('.')}") if stems[s.stem] > 1 else s
               for s in sources]
    taken: Counter = Counter()
    unique = []
    for s in sources:
        taken[s.stem] += 1
        unique.append(s if taken[s.stem] == 1 else replace(s, stem=f"{s.stem}_{taken[s.stem]}"))
    return unique


def read_bytes(source: Source) -> bytes:
    """The file's bytes (local or S3)."""
    if not source.is_s3:
        return Path(source.uri).read_bytes()
    fs = s3_filesystem()
    with fs.open_input_stream(source.uri[len(S3):]) as f:
        return f.read()
