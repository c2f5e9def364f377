"""Captures to maps: photometric stereo turns a multi-light session into normals, albedo
and depth.

Readers (``photostereo.io``) give a :class:`~photostereo.session.CaptureSession`;
``photostereo.solvers`` estimate normals and albedo; ``photostereo.integrate`` turns
normals into depth; ``photostereo.reconstruct`` chains them for one session.
"""
