"""psbase: the small base every psface package stands on, importing nothing of ours.

It holds what the stages share and nothing else: the error hierarchy, the version, the
one atomic file writer, output and label guards, the writer lock and the failure log.
"""

__version__ = "0.1.0"
