"""``python -m icehouse`` runs the CLI (what tests and supervisors without PATH use)."""

from icehouse.cli.app import main

main()
