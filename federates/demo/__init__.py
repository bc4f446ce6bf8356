"""``federation demo-sensors``: a small "real world" for the live Riverton demo (docs/live.md)."""
