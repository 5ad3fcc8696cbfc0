"""Simulated traffic in the gateway's access-log format, with legitimate look-alikes and attacks,
to rehearse and measure the anomaly monitor (``python -m secure_endpoint.simulate.traffic``);
simulated SageMaker data capture against a small trained model (``simulate.capture``); and a
local endpoint serving that model behind the gateway's limits, writing real capture files
(``simulate.local_endpoint``, what ``secure-endpoint attack --local`` and ``make demo`` use).

Needs numpy: ``pip install 'secure-endpoint[monitor]'`` (the capture simulator and the local
endpoint: ``'secure-endpoint[simulate]'``).
"""
