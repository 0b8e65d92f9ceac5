"""Prices the run records estimate costs with: AWS list prices, on-demand, us-east-1, Linux x86_64.

Estimates, not a bill: regions, savings plans and Spot change them.
"""

from __future__ import annotations

FARGATE_VCPU_HOUR_USD = 0.04048  # per vCPU and hour
FARGATE_GB_HOUR_USD = 0.004445  # per GB of memory and hour
