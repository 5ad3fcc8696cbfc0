"""Rotation of a Cognito app client secret kept in a Secrets Manager secret."""
