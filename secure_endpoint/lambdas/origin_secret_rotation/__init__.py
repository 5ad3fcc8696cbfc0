"""Rotation of the CloudFront origin secret that the regional web ACL requires."""
