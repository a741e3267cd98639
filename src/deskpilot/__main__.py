"""`python -m deskpilot` runs the CLI."""

from deskpilot.cli import main

main()
