"""``make demo``: the library's whole security loop, locally and offline (``python -m demo``).

Repository tooling, not part of the installed package: ``__main__`` runs the steps in order
(synth summary, the security loop in moto, the report) with a progress line per step.
"""
