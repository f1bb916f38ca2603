"""`python -m hnnbio` runs the command-line interface."""

from hnnbio.cli import main

raise SystemExit(main())
