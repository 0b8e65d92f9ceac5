"""Core domain library of the serverless MLOps platform, grouped by capability.

Packages, from the bottom up; a package imports only from the rows above its own (docs/architecture.md,
and tests/unit/test_architecture.py, which enforces it):

    errors                 the errors the core raises, with their HTTP status and code
    catalog                every shared name: functions, routes, state machines, outputs, S3 keys, limits,
                           estimator kinds, capture columns; settings, task messages and API bodies
    spec, storage, html    the model spec; the S3 adapter (verified artifacts); HTML pages
    registry               specs, versions, aliases, audit trail (DynamoDB); register and promote
    data | serving | runs  contract, datasets, profile, validate | ONNX, request validation, capture,
                           feedback | what became of a run (a failed step in words)
    training               pipeline, ONNX export and parity, metrics, gate, the Batch job
    monitoring             drift, captured windows, the drift check, due models and retraining

Each package's `__init__` names its public surface (imported lazily, so a Lambda function loads only
what it uses); code outside a package imports from that surface.
"""
