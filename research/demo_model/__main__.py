"""``python -m research.demo_model``: the demo-model pipeline's commands."""

from research.demo_model.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
