"""Layer 6, the applications: the ``federation`` command, the terminal status line and prompt,
sweeps and the example scenarios.  See docs/architecture.md.
"""
