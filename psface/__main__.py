import sys

from psface.cli import main

sys.exit(main())
