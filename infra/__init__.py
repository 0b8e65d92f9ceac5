"""CDK app, its constructs and stacks, the local (embedded AWS) target and the `mlops` CLI."""

import os

# jsii prints an end-of-life banner for Node 20 on every start; the CDK libraries work on it.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
