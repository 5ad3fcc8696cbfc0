"""Payload abuse, per client: what each client sends, scored against the training baseline and
against the other clients.

- ``reference``: what the detector knows of the training data (a normal-score transform from
  the baseline's quantiles, a Gaussian copula of the features' joint structure, and keyed
  hashes of quantized training rows), built by ``secure-endpoint baseline`` into
  ``payload.json``;
- ``detector``: per-client state (bounded) and the four kinds of finding (``findings.KINDS``);
- ``findings``: the finding and its JSON Lines contract.

numpy only: it runs in the drift monitor's Lambda function as well as in ``inspect-capture``.
"""
