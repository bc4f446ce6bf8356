"""Layer 4, the engine: the plan, the scheduler, the coordinator and its checks, the federate
runtime, process launching, security and the recorder.  See docs/architecture.md.
"""
