"""The `k2m` command line."""
