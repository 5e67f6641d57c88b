import sys

from ichmodel.cli import main

sys.exit(main())
