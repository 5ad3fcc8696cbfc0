"""The model artifact's SHA-256, checked against the expected digest before the model exists."""
