"""The CDK constructs, one module per concern.

``endpoint`` composes the rest into ``SecureEndpoint``: ``hosting`` (the SageMaker model and
endpoint), ``network`` (the isolated VPC), ``keys`` (the customer-managed key), ``identity`` and
``credentials`` (Cognito OAuth, client secrets and their rotation), ``api`` and ``access_log``
(the REST API), ``edge`` (the regional web ACL), ``shield`` (CloudFront and Shield Advanced),
``threat_intel`` (reputation lists), ``integrity`` (the artifact's digest and signature),
``monitor``, ``alarms``, ``api_key_responder`` and ``blocklist_store`` (detection and response).
``options`` holds the option classes, ``bundling`` and ``images`` what the constructs build from.
Users import from ``secure_endpoint``.
"""
