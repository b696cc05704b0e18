"""``python -m entropykit`` runs the umbrella command."""

from entropykit.cli import main

main()
