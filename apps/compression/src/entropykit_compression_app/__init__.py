"""The entropykit-compression command."""
