"""Request limits and serving timings: what a deployment sets unless it overrides them."""

from __future__ import annotations

MAX_ROWS = 1000  # rows of one prediction request
MAX_BODY_BYTES = 1_000_000  # bytes of one request body
MAX_FEEDBACK = 1000  # labels of one feedback request
MAX_FEEDBACK_BODY_BYTES = 256_000  # bytes of one feedback request body (1000 labels fit)
ALIAS_TTL_SECONDS = 30.0  # how long a predict container trusts its cached aliases
READ_BATCH_ROWS = 65_536  # rows read from a data file at a time: a job's memory holds a batch, whatever the file
CAPTURE_MAX_ROWS = 10_000  # captured rows per Parquet file: files of ~1 MB, one S3 PUT per 10,000 rows
CAPTURE_MAX_AGE_SECONDS = 30.0  # oldest buffered capture row before a write
CAPTURE_MAX_BUFFERED_ROWS = 50_000  # rows kept through failed writes before the oldest are dropped
# API Gateway: steady requests per second, burst, and monthly quota per key.
API_RATE_LIMIT = 100
API_BURST_LIMIT = 200
API_MONTHLY_QUOTA = 10_000_000
# The feedback route's own throttle (per stage): labels are few, and a flood of them must not crowd out predictions.
FEEDBACK_RATE_LIMIT = 20
FEEDBACK_BURST_LIMIT = 40
