"""SageMaker data-capture traffic against a real small model, with the training CSV and the
ground truth beside it (``python -m secure_endpoint.simulate.capture --out DIR``).

Needs numpy and scikit-learn: ``pip install 'secure-endpoint[simulate]'``.

Writes into ``--out``:

- ``training.csv``: a header of the 35 feature names and ``label``, one training row a line
  (what ``secure-endpoint baseline --training`` reads); ``model.json``: the fitted gradient
  boosting model as JSON (no pickle; ``model.TreeEnsemble`` scores it with numpy);
- ``capture/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm>-<ss>-<mmm>-<uuid>.jsonl``: the capture
  objects, one per ``object_minutes`` of each hour, streamed hour by hour;
- ``truth.jsonl`` (one line per request: ``eventId``, ``inferenceId``, ``client_id``,
  ``profile``, ``legitimate``, ``rows``, ``contentType``, ``encoding``, ``drifted``,
  ``malformed``, ``replay_of``, ``payloadSha256``) and ``scenario.json`` (parameters, the drift
  episodes with their features and times, every client with its profile and parameters,
  counts), kept apart from the capture data: the benchmarks score against them.

The layout follows SageMaker's documentation:

- https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html
  ("The format of the Amazon S3 path is
  ``s3://{destination-bucket-prefix}/{endpoint-name}/{variant-name}/yyyy/mm/dd/hh/filename.jsonl``");
  the file name is ``<minute>-<second>-<millisecond>-<uuid>.jsonl`` as real capture objects are
  named (e.g. ``.../AllTraffic/2020/03/11/12/32-18-648-cee08c3a-02ce-4790-b8ba-3173cfc12813.jsonl``
  in aws-samples); the documentation only says ``filename.jsonl``.
- Each line: ``{"captureData": {"endpointInput": {"observedContentType", "mode": "INPUT",
  "data", "encoding"}, "endpointOutput": {"observedContentType", "mode": "OUTPUT", "data",
  "encoding"}}, "eventMetadata": {"eventId", "inferenceId", "inferenceTime"}, "eventVersion":
  "0"}``; ``encoding`` is ``JSON`` or ``CSV`` when the content type is in the endpoint's
  ``CaptureContentTypeHeader`` lists (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CaptureContentTypeHeader.html),
  else ``BASE64`` ("If no headers are specified SageMaker AI will by default base64 encode",
  API_DataCaptureConfig); ``data`` is the payload text (base64 of it for ``BASE64``);
  ``inferenceTime`` is ISO 8601 UTC to the second, as the documented examples show.
- ``inferenceId`` is present when the caller set one
  (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-model-quality-merge.html);
  SecureEndpoint's request template sets ``client_id:requestId`` within 64 characters
  (``layout.inference_id`` mirrors ``constructs.api.INFERENCE_ID_REQUEST_TEMPLATE``).

Requests are ``{"instances": [[...], ...]}`` (``application/json``), CSV rows (``text/csv``) or
a JSON body sent as ``application/octet-stream`` (captured BASE64); answers are
``{"predictions": [p, ...]}`` or one probability a CSV line. By default SecureEndpoint lists
only ``application/json`` for capture, so pass ``csv_content_types=()`` to see CSV come out
BASE64 as it would there. Malformed lines at ``malformed_rate``: a cut capture line (not JSON),
a row a value short or long, a string value, a ``NaN``; their output is an error body.

Profiles (``profiles.PROFILES``; truth labels): ``legit:interactive`` (own sub-population,
business-hours rhythm in its time zone, mostly single rows), ``legit:batch`` (large batches at
fixed hours), ``legit:periodic`` (the same few rows every 1-15 minutes with a tiny jitter),
``legit:replay`` (exact repeats of earlier requests), ``legit:canary`` (direct calls without an
inference id), ``legit:heavy`` (an interactive user at 50-90% of the daily quota; not in the
default clients). The attackers of ``attacks`` (``attack:<kind>`` and
``attack:<kind>:<strategy>``, running ``secure_endpoint.redteam`` strategies at a normal
client's pace) are added through ``Config.clients`` too. A population drift
(``profiles.DriftSpec``: gradual or step, named features, hours) moves new rows of interactive
and batch clients; periodic rows and replays do not move.

Adding the attacker profiles of the payload-abuse issue (extraction, adversarial probing,
out-of-distribution, membership probing): subclass ``profiles.Client`` with ``profile =
"attack:<kind>"`` and ``legitimate = False``, decorate with ``profiles.register``, and add it
to ``Config.clients``. The hooks they need are in ``profiles.Context``: ``model`` (the trained
model: ``predict_proba`` answers as the endpoint does, for adaptive strategies such as a
boundary search that needs each answer before its next query), ``training_rows`` (for
membership probing; only such a profile should read them), ``train_std`` and the
``population`` module (feature kinds and bounds, for out-of-distribution rows and for a
marginal-sampling extractor), ``budget`` (the usage plan's rate, burst and daily quota, to
pace inside it), and ``Request.extra`` (per-request ground truth, such as the attack step,
copied to truth.jsonl). ``Client.hour`` is called hour by hour in time order with the
client's own seeded generator, so an attacker keeps its state (queries so far) between hours.
"""

from __future__ import annotations

try:
    import numpy  # noqa: F401
    import sklearn  # noqa: F401
except ImportError as missing:  # pragma: no cover - exercised by a test with the modules hidden
    raise ImportError(
        "secure_endpoint.simulate.capture needs numpy and scikit-learn "
        f"({missing.name} is missing): pip install 'secure-endpoint[simulate]'"
    ) from missing
