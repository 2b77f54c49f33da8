"""Knowledge data files (TOML), shipped with the package; see docs/explain.md for the format."""
