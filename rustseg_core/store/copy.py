"""Copy records from one store to a database store (SQLite folder → PostgreSQL), as they are:
same ids, times and verdicts, files and correction versions byte for byte. Idempotent: a
rerun copies only what is missing, so an interrupted copy is finished by running it again."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..vocabulary import OUTPUT_FILES

log = logging.getLogger(__name__)


@dataclass
class CopySummary:
    """What :func:`copy_store` did."""

    records_copied: int = 0
    records_present: int = 0  # already in the destination (their missing corrections copied)
    corrections_copied: int = 0
    skipped: list[str] = field(default_factory=list)  # source records missing a file


def copy_store(source, dest) -> CopySummary:
    """Copy every record of ``source`` (any backend) that ``dest`` (a ``DatabaseStore``)
    lacks, each in one transaction with its files and corrections; for records already
    there, copy the correction versions it lacks (and a verdict it has not got)."""
    if not hasattr(dest, "import_record"):
        raise ValueError("records can only be copied into a database store (a postgresql:// URL)")
    done = CopySummary()
    for rec in source.records():
        here = dest.get(rec.id)
        try:
            blobs = {} if here is not None else {
                name: source.read_file(rec, name) for name in ("original", *OUTPUT_FILES)}
            have = {c.version for c in dest.corrections(rec.id)} if here is not None else set()
            versions = [(c, source.read_correction(c)) for c in source.corrections(rec.id)
                        if c.version not in have]
        except FileNotFoundError as e:
            log.warning("record %s is missing a file (%s); not copied", rec.id, e)
            done.skipped.append(rec.id)
            continue
        added, n = dest.import_record(rec, blobs, versions)
        done.records_copied += added
        done.records_present += not added
        done.corrections_copied += n
    return done
