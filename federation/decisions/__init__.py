"""Layer 3, decisions: the gate that holds proposals for approval, and edits of their payloads.
See docs/decisions.md and docs/architecture.md.
"""
