"""Core domain library of the serverless MLOps platform: specs, contracts, training, registry, serving, drift."""
