"""``rustseg store``: create or migrate a store's schema, check it, export it, copy it.

Every action takes ``--store`` (a folder or a ``postgresql://`` URL); without it the store
is ``$RUSTSEG_DATABASE_URL``, else ``$RUSTSEG_STORE_DIR``, else ``var/store``, the same
choice the web app makes.
"""
from __future__ import annotations

import argparse
import os
import sys

from ..store import DEFAULT_STORE_DIR, ENV_DATABASE_URL, is_url, open_store

ENV_STORE_DIR = "RUSTSEG_STORE_DIR"
STORE_HELP = (f"store folder or postgresql:// URL (default: ${ENV_DATABASE_URL}, else "
              f"${ENV_STORE_DIR}, else {DEFAULT_STORE_DIR})")


def store_location(arg: str | None) -> str:
    """The store the command works on: ``--store``, else the environment, else the default."""
    return (arg or os.environ.get(ENV_DATABASE_URL) or os.environ.get(ENV_STORE_DIR)
            or DEFAULT_STORE_DIR)


def _upgrade(args: argparse.Namespace) -> int:
    store = open_store(store_location(args.store))
    revision = store.upgrade()
    print(f"{store.location}: schema at revision {revision}")
    return 0


def _check(args: argparse.Namespace) -> int:
    store = open_store(store_location(args.store))
    if not store.exists():
        print(f"{store.location}: no store yet (nothing kept)")
        return 0
    found = store.check()
    print(f"{store.location}: {found.rows} records; {len(found.incomplete)} incomplete, "
          f"{len(found.orphans)} orphans, {len(found.staging)} in staging, "
          f"{len(found.stray_corrections)} stray corrections")
    for label, items in (("incomplete", found.incomplete), ("orphan", found.orphans),
                         ("staging", found.staging), ("stray correction", found.stray_corrections)):
        for item in items:
            print(f"  {label}: {item}")
    if found.orphans or found.staging or found.stray_corrections:
        print("  (leftovers of interrupted saves: no page shows them; the app's start-up "
              "sweep removes those older than an hour)")
    return 0 if found.ok else 1


def export_command(args: argparse.Namespace) -> int:
    """``rustseg store export`` and ``rustseg dataset export``: training data from a store."""
    store = open_store(store_location(args.store))
    if not store.exists():
        print(f"no kept photos: {store.location} has no store", file=sys.stderr)
        return 1
    done = store.export(args.dir, verified_only=args.verified_only)
    print(f"exported {done.counts['corrosion']} corrosion and {done.counts['not_corrosion']} "
          f"not_corrosion photos to {args.dir} ({done.from_user} labelled by people, "
          f"{done.from_model} by the model; see {done.csv_path})")
    if done.mask_pairs:
        print(f"exported {done.mask_pairs} corrected masks as images/ + masks/ pairs, ready for "
              f"'rustseg train DATA --masks {args.dir}' (see {done.manifest_path})")
    if done.missing:
        print(f"  {done.missing} records had no original file and were skipped", file=sys.stderr)
    return 0


def _copy(args: argparse.Namespace) -> int:
    from ..store.copy import copy_store

    if not is_url(args.to):
        print("--to must be a postgresql:// URL: records are copied into a database store",
              file=sys.stderr)
        return 2
    source = open_store(args.source)
    if not source.exists():
        print(f"nothing to copy: {source.location} has no store", file=sys.stderr)
        return 1
    dest = open_store(args.to)
    dest.upgrade()
    done = copy_store(source, dest)
    print(f"copied {done.records_copied} records and {done.corrections_copied} corrections from "
          f"{source.location} to {dest.location} ({done.records_present} records were there already)")
    for rid in done.skipped:
        print(f"  not copied (a file is missing in the source; see 'rustseg store check'): {rid}",
              file=sys.stderr)
    return 1 if done.skipped else 0


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="output folder (created; re-exporting updates it)")
    p.add_argument("--store", help=STORE_HELP)
    p.add_argument("--verified-only", action="store_true",
                   help="only photos whose label a person confirmed or corrected")
    p.set_defaults(func=export_command)


def add_store_commands(sub, command) -> None:
    """Register ``rustseg store ACTION``; ``command`` is the CLI's subparser factory."""
    s = command(sub, "store", "the opt-in store: schema, checks, export, copy to PostgreSQL")
    ssub = s.add_subparsers(dest="store_cmd", metavar="ACTION", required=True)
    u = command(ssub, "upgrade", "create the store's schema or migrate it to this version (Alembic)")
    u.add_argument("--store", help=STORE_HELP)
    u.set_defaults(func=_upgrade)
    c = command(ssub, "check", "verify every record has all its files; list leftovers (exit 1 if not)")
    c.add_argument("--store", help=STORE_HELP)
    c.set_defaults(func=_check)
    x = command(ssub, "export", "write kept photos as training data (as 'rustseg dataset export')")
    add_export_arguments(x)
    y = command(ssub, "copy", "copy records into a PostgreSQL store (ids, files and corrections as "
                "they are; rerun to copy only what is missing)")
    y.add_argument("--from", dest="source", required=True, metavar="DIR_OR_URL",
                   help="the store to copy from (a folder or a URL)")
    y.add_argument("--to", required=True, metavar="URL", help="the postgresql:// store to copy into")
    y.set_defaults(func=_copy)
