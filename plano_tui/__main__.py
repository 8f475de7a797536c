"""`python -m plano_tui` = `planoai`."""

import sys

from .cli import main

sys.exit(main())
