"""The example dataset the README's first commands upload (`infra/local/example/churn.csv`) trains as it is."""

from __future__ import annotations

from infra.local.example_data import EXAMPLE_SPEC
from mlcore.data import enforce_contract, read_table
from mlcore.spec import load_spec

EXAMPLE_CSV = EXAMPLE_SPEC.with_name("churn.csv")


def test_the_example_csv_meets_the_example_specs_contract() -> None:
    spec = load_spec(EXAMPLE_SPEC.read_text())
    table = read_table(EXAMPLE_CSV.read_bytes(), EXAMPLE_CSV.name, spec)
    clean, report = enforce_contract(table, spec)
    assert clean.num_rows == report.rows == 1000
    assert not report.blocking
    # its empty cells are the missing values a nullable feature may have
    assert clean.column("data_usage_gb").null_count == 36
    assert set(clean.column("churned").to_pylist()) == {"yes", "no"}
