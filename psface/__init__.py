"""psface: photometric-stereo 3D face recognition.

The work lives in three packages, one per stage: ``photostereo`` (captures to maps),
``recognition`` (maps to embeddings) and ``gallery`` (embeddings to decisions). This
package holds only what they share: the error hierarchy and the command line.
"""

__version__ = "0.1.0"
