"""The FMUs that ship with the project, as C sources; ``fmus.build`` compiles them."""
