"""``python -m wiresift``."""

from __future__ import annotations

import sys

from wiresift.cli import main

sys.exit(main())
