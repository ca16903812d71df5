"""`python -m sciwm ...` (also what `torchrun -m sciwm` runs)."""

import sys

from sciwm.cli import main

sys.exit(main())
