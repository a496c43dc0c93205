"""``python -m netbuilder.core.cli`` is the ``netbuilder`` command."""

import sys

from netbuilder.core.cli.main import main

sys.exit(main())
