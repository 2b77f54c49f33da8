"""The built-in scenario catalogue: the *.toml files in this folder.

In the source tree this is the top-level `scenarios/` folder; `smtpprobe/catalogue` is a symlink to it, so
it ships inside the installed package (editable or not) as `smtpprobe.catalogue`.
"""
