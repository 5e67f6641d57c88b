"""PyInstaller entry script: the frozen app starts here."""

import sys

from ichviewer.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
