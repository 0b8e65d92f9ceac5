"""The local target: the synthesized CDK app deployed into an embedded AWS (moto) on loopback."""
