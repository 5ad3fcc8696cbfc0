"""Code that runs in AWS (Lambda functions, the CLI): boto3 only, no CDK."""
