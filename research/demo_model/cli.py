"""The demo-model pipeline's command line: ``python -m research.demo_model COMMAND ...``."""

from __future__ import annotations

import argparse

from research.demo_model import amend, calibrate, finetune, pipeline, tiny, trust


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m research.demo_model",
                                description="How the bundled demo model is made.")
    sub = p.add_subparsers(dest="command", required=True)
    for name, module in (("train", pipeline), ("finetune", finetune),
                         ("calibrate", calibrate), ("trust", trust), ("amend", amend),
                         ("tiny", tiny)):
        module.add_arguments(sub.add_parser(name, help=module.HELP, description=module.__doc__,
                                            formatter_class=argparse.RawDescriptionHelpFormatter))
    return p


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    if a.command == "train":
        return pipeline.run(a)
    if a.command == "finetune":
        return finetune.run(a)
    if a.command == "calibrate":
        return calibrate.run(a)
    if a.command == "trust":
        return trust.run(a)
    if a.command == "amend":
        return amend.run(a)
    return tiny.run_chain(a.work, main)
