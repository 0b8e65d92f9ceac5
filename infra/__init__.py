"""CDK app, its constructs and stacks, the local (embedded AWS) target and the `mlops` CLI."""
