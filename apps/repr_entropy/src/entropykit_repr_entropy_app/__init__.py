"""The entropykit-repr-entropy command line."""
