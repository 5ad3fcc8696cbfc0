"""Which objects of the anomaly monitor's state bucket each function calls S3 on, by IAM action.

The handlers' calls (tests/lambdas/anomaly_monitor/test_monitor_handler.py records them in moto)
must fall under these prefixes, and the construct's policies (tests/test_monitor.py) must allow
exactly these, so the two cannot drift apart. HeadObject is authorized as s3:GetObject; a key
that is missing reads as 404 only with s3:ListBucket on the bucket.
"""

from anomaly_monitor.adapters import ALERT_PREFIX, MODEL_PREFIX, POINTER_KEY

STATE_PREFIX = POINTER_KEY.split("/")[0] + "/"  # state/pointer.json, state/history/...

ACTIONS = {"GetObject": "s3:GetObject", "HeadObject": "s3:GetObject", "PutObject": "s3:PutObject"}
"""The IAM action of each S3 operation the handlers call."""

S3_ACCESS = {
    "monitor": {
        "s3:GetObject": (STATE_PREFIX, ALERT_PREFIX, MODEL_PREFIX),
        "s3:PutObject": (STATE_PREFIX, ALERT_PREFIX),
    },
    "fitter": {
        "s3:GetObject": (STATE_PREFIX, MODEL_PREFIX),
        "s3:PutObject": (MODEL_PREFIX,),
    },
}
PREFIXES = (STATE_PREFIX, ALERT_PREFIX, MODEL_PREFIX)
