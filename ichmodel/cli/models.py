"""``ichmodel models list|use NAME|rollback|register FILE [NAME] [--use]
[--provenance site|synthetic|untrained]|remove NAME``.

The model registry in the user's data folder (``$ICHVIEWER_DATA_DIR`` overrides it): which
trained models exist, which one ``predict``/``evaluate``/the viewer use, and going back to the
bundled demo model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_HELP = "list trained models, pick the active one, roll back to the bundled demo"
_DESCRIPTION = "Manage the model registry (user data folder)."


def add_parser(subparsers) -> argparse.ArgumentParser:
    from ichmodel.cli._output import action_command

    p, sub = action_command(subparsers, "models", help=_HELP, description=_DESCRIPTION)
    ls = sub.add_parser("list", help="list models (the active one is marked)")
    ls.add_argument("--json", action="store_true")
    use = sub.add_parser("use", help="make a model active")
    use.add_argument("name")
    sub.add_parser("rollback", help="make the bundled demo model active again")
    reg = sub.add_parser("register", help="copy a checkpoint into the registry")
    reg.add_argument("checkpoint", type=Path)
    reg.add_argument("name", nargs="?", help="registry name (default model-<date>)")
    reg.add_argument("--name", dest="name_option", metavar="NAME",
                     help="the same as the NAME argument (kept for older scripts)")
    reg.add_argument("--use", action="store_true", help="also make it active")
    reg.add_argument("--provenance", choices=("site", "synthetic", "untrained"),
                     help="where its training data came from: required for a file that does "
                     "not record it (schema 1); a recorded provenance cannot be changed")
    rm = sub.add_parser("remove", help="delete a registered model")
    rm.add_argument("name")
    return p


def run(args: argparse.Namespace) -> int:
    from ichmodel import registry
    from ichmodel.cli._output import print_json, print_table

    cmd = args.models_command
    if cmd == "list":
        entries = registry.list_models()
        if args.json:
            print_json(
                {
                    "data_dir": str(registry.data_dir()),
                    "active": registry.active_name(),
                    "models": [
                        {
                            "name": e.name,
                            "path": str(e.path),
                            "bundled": e.bundled,
                            "active": e.active,
                            "card": e.card,
                            "metrics": e.metrics,
                            "registered": e.registered,
                        }
                        for e in entries
                    ],
                }
            )
            return 0
        if not entries:
            print("no models: neither a bundled demo model nor registered ones "
                  "(predict falls back to the untrained model)")
            return 0
        rows = []
        for e in entries:
            mae = e.metrics.get("heldout_mae_ml", e.metrics.get("val_mae_ml"))
            auc = e.metrics.get("heldout_auc_proxy", e.metrics.get("val_auc"))
            rows.append([
                "*" if e.active else "",
                e.name,
                "bundled" if e.bundled else e.registered,
                "" if mae is None else f"{mae:.2f}",
                "" if auc is None else f"{auc:.3f}",
                str(e.path),
            ])
        print_table(["active", "name", "registered", "mae_ml", "auc", "path"], rows)
        return 0
    if cmd == "use":
        registry.set_active(args.name)
        print(f"active model: {registry.active_name()}")
        return 0
    if cmd == "rollback":
        registry.rollback()
        path = registry.active_model_path()
        print(f"active model: {registry.BUNDLED_NAME}" + ("" if path else
              " (not shipped in this build: predict uses the untrained model)"))
        return 0
    if cmd == "register":
        if args.name and args.name_option and args.name != args.name_option:
            print(f"error: two names given ({args.name}, --name {args.name_option}); give one",
                  file=sys.stderr)
            return 2
        name = args.name or args.name_option
        entry = registry.register_model(args.checkpoint, name, activate=args.use,
                                        provenance=args.provenance)
        print(f"registered {entry.name} ({entry.card.get('provenance', 'unrecorded')}) at "
              f"{entry.path}" + (" (active)" if args.use else ""))
        return 0
    if cmd == "remove":
        registry.remove_model(args.name)
        print(f"removed {args.name}; active model: {registry.active_name()}")
        return 0
    raise AssertionError(cmd)  # argparse restricts the choices
