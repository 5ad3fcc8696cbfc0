"""SageMaker data capture: reading it (``records``) and measuring its drift from the training
baseline (``drift``). numpy, no CDK, no AWS."""
