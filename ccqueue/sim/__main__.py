"""``python -m ccqueue.sim SCENARIO.yaml [--json]``, the same as ``ccqueue simulate``."""

from ccqueue.sim.cli import main

raise SystemExit(main())
