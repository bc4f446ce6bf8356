"""Layer 1, the user's federate API: ``Federate``, its interface descriptors and the SimPy adapter.

Import it through the package: ``from federation import Federate, Input, Output, Parameter``.
See docs/architecture.md for the layers.
"""
