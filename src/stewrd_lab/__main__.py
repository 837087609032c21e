"""``python -m stewrd_lab`` runs the command line."""

from stewrd_lab._cli import main

raise SystemExit(main())
