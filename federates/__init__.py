"""Domain simulators (federates) shipped with the federation framework."""
