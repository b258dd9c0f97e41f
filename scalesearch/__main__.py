"""`python -m scalesearch` runs the CLI."""

from scalesearch.cli import main

main()
