"""Print the markdown tables of a saved benchmark (``--json OUT``) again, e.g. for the README.

Usage: ``python3 -m benchmarks.report results.json [more.json ...]``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Sequence

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def render(results: dict) -> str:
    """Markdown for a results dict of either benchmark."""
    kind = results.get("benchmark")
    if kind == "table2":
        from benchmarks.table2 import render as table2_render

        return table2_render(results)
    if kind == "scaling":
        from benchmarks.scaling import render as scaling_render

        return scaling_render(results)
    raise ValueError(f"not a RustSEG benchmark result (benchmark={kind!r})")


def main(argv: Sequence[str] | None = None) -> int:
    files = list(sys.argv[1:] if argv is None else argv)
    if not files:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    print("\n\n".join(render(json.loads(Path(f).read_text())) for f in files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
