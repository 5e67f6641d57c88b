"""Research code: how the bundled demo model was made. Never imported by the product.

Run its commands from the repository root as modules (``python -m research.demo_model ...``);
see ``research/demo_model/README.md``.
"""
