import sys

from aiconform.cli import main

sys.exit(main())
