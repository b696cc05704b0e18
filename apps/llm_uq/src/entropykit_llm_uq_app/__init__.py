"""The entropykit-llm-uq command line (see ``entropykit-llm-uq --help``)."""
