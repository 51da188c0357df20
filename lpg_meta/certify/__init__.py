"""Optimised PAC-Bayes certificates of finished runs (``lpg-meta certify``).

- ``bounds``: the arithmetic (binary-kl inversion, the δ split, the Monte-Carlo bound, the
  training objective);
- ``posterior``: a diagonal Gaussian posterior over a network's weights, optimised against a
  Gaussian prior, and its final Monte-Carlo evaluation;
- ``runs``: a finished run's initial and final weights (saved, or rebuilt by training again);
- ``command``: the command, writing ``certificates.csv`` in the results folder.
"""
