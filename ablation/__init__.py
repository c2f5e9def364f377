"""Lighting-robustness ablations: photometric stereo and recognition across a grid of
conditions, on rendered people with exact ground truth and on real many-light captures.

* :mod:`~ablation.factors`: the factors, their defaults (:class:`~ablation.factors.Conditions`)
  and the grid of cells;
* :mod:`~ablation.maps`: one session's maps at a cell's conditions;
* :mod:`~ablation.recognition`: training-free and trained-model recognition figures;
* :mod:`~ablation.synthetic` and :mod:`~ablation.real`: a cell's measures on each kind
  of data;
* :mod:`~ablation.runner`: every cell and repeat, in parallel, resumable;
* :mod:`~ablation.report`: the tidy tables and the markdown report.
"""
