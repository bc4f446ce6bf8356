"""Layer 2, the scenario language: the YAML source with its line map, the scenario model, loading,
overrides, validation, federate type resolution and the dependency graph.  See docs/architecture.md.
"""
