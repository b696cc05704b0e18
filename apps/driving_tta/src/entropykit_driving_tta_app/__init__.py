"""The entropykit-driving-tta command."""
