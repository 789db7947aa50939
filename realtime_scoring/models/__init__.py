"""Model manifest, preparation from registry packages, and hash-checked loading."""
