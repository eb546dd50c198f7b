"""The ``rustseg`` command line: train, evaluate, segment, dataset export."""
from __future__ import annotations

import argparse
import logging
import shlex
import sys


def _train(args: argparse.Namespace) -> int:
    from .train import TrainConfig, train

    cfg = TrainConfig(preset=args.preset, input_size=args.input_size, base_width=args.base_width,
                      epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                      seed=args.seed, augment=not args.no_augment, val_fraction=args.val_fraction,
                      deterministic=args.deterministic, cache_dir=args.cache_dir)
    command = "rustseg " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    bundle = train(args.data_dir, args.out, cfg, command=command)
    print(f"saved {args.out}: val accuracy {bundle.info['val_accuracy']:.3f}, "
          f"val AUC {bundle.info['val_auc']:.3f}, {bundle.info['train_seconds']:.0f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rustseg", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("train", help="train the classifier on image-level labels")
    t.add_argument("data_dir", help="folder with corrosion/ and not_corrosion/ (or train/ val/ of those)")
    t.add_argument("--out", required=True, help="output model folder, e.g. models/mine")
    t.add_argument("--preset", default="cpu", choices=["cpu", "paper"])
    t.add_argument("--input-size", type=int)
    t.add_argument("--base-width", type=int)
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (warm-up + cosine)")
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--val-fraction", type=float, default=0.15, help="used when there is no val/ split")
    t.add_argument("--no-augment", action="store_true")
    t.add_argument("--deterministic", action="store_true", help="bit-reproducible (slower) TF ops")
    t.add_argument("--cache-dir", help="where decoded images are cached (default OUT/cache)")
    t.set_defaults(func=_train)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
