"""Simulated traffic in the gateway's access-log format, with legitimate look-alikes and attacks,
to rehearse and measure the anomaly monitor (``python -m secure_endpoint.simulate.traffic``).

Needs numpy: ``pip install 'secure-endpoint[monitor]'``.
"""
