"""``python -m foundups_training`` runs the CLI."""

from foundups_training.cli import main

raise SystemExit(main())
