"""MLIC++ / MLICv2 learned image compression on compressai (see docs/compression.md)."""

__version__ = "0.1.0"
