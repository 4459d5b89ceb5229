"""The pure core: records and the functions that build, check and render them.

Nothing in here does I/O, reads the clock or draws random numbers; a test enforces it.
"""
