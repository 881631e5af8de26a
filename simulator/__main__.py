"""``python -m simulator`` is ``scc-sim``."""

from simulator.cli import main

raise SystemExit(main())
