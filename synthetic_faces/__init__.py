"""Synthetic people photographed under a light rig, with exact ground truth.

It makes data for the pipeline; it is not part of it. It may import psbase and
photostereo (whose conventions its captures follow); only the command line, tests,
benchmarks and scripts import it. Rigs and the Photoface statistics ship as package
data, read with importlib.resources.
"""
