"""psface: photometric-stereo 3D face recognition, the command line.

The work lives in three packages, one per stage: ``photostereo`` (captures to maps),
``recognition`` (maps to embeddings) and ``gallery`` (embeddings to decisions), all
standing on ``psbase`` (errors, atomic writes, locks). This package is the command line.
"""

from psbase import __version__

__all__ = ["__version__"]
