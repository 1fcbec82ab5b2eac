"""``python3 -m trainer <command>``: argparse subcommands, each in its own module.

Every command module exposes ``add_arguments(parser)`` and ``main(args) -> int | None``; modules
are imported lazily so that ``--help`` stays fast and a command whose module is not there yet
says so instead of breaking the others. A command whose options depend on another option
(``train``/``import-official``: the ``--arch``'s own) takes ``add_arguments(parser, argv)``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from collections.abc import Sequence

#: command → (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("trainer.synth", "make a synthetic dataset in MVTec layout"),
    "train": ("trainer.train", "train a model (--arch, default inp-former) into a RUN folder"),
    "eval": ("trainer.evaluate", "evaluate a RUN on a dataset (the authors' metrics)"),
    "export": ("trainer.export", "export a RUN as a model bundle (model.onnx + model.json)"),
    "import-official": ("trainer.import_official", "turn the authors' checkpoint (--arch) into a RUN"),
    "import-anomalib": ("trainer.import_anomalib", "turn an ONNX file exported by anomalib 2.x into a bundle"),
    "fixtures": ("trainer.fixtures", "regenerate the tiny test bundles (test/fixtures/models)"),
}


def _load(module: str) -> object | None:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name == module:
            return None
        raise


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The top-level parser; only the chosen command's module is imported."""
    parser = argparse.ArgumentParser(
        prog="bin/trainer",
        description="linewatch trainer: training, evaluation and export to model bundles, one registry of "
        "architectures (train --arch).",
    )
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.required = True
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name != chosen:
            continue
        mod = _load(module)
        if mod is None:
            p.set_defaults(_missing=module)
            continue
        add = mod.add_arguments  # type: ignore[attr-defined]
        if len(inspect.signature(add).parameters) > 1:
            add(p, argv)
        else:
            add(p)
        p.set_defaults(_main=mod.main)  # type: ignore[attr-defined]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse and run; returns the exit status."""
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    missing = getattr(args, "_missing", None)
    if missing:
        print(f"trainer: '{args.command}' is not available yet ({missing} is not in this checkout)",
              file=sys.stderr)
        return 2
    try:
        rc = args._main(args)
    except KeyboardInterrupt:
        print("trainer: interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"trainer {args.command}: error: {e}", file=sys.stderr)
        return 1
    return int(rc or 0)
