"""Data: the data contract, datasets as Arrow tables, the training profile and the validate step (pyarrow)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlcore._surface import surface

if TYPE_CHECKING:
    from mlcore.data.contract import (
        CheckResult,
        ContractReport,
        at_rows,
        check_contract,
        checked_files,
        contract_report,
        enforce_contract,
        file_failures,
        in_files,
        named_like,
    )
    from mlcore.data.counts import (
        EXAMPLES,
        CategorySketch,
        ContractCounts,
        NumericSketch,
        Tally,
        count_contract,
        failing_rows,
        merge_counts,
    )
    from mlcore.data.datasets import (
        NULL_SPELLINGS,
        DatasetFiles,
        DatasetTables,
        as_timestamps,
        column_times,
        concat_dataset,
        dataset_files,
        dataset_root,
        dataset_sha256,
        file_columns,
        folder_artifact,
        folder_sha256,
        hive_partitions,
        is_text,
        iter_file,
        latest_dataset_key,
        model_dataset,
        query_statement,
        read_dataset_file,
        read_parquet,
        read_split,
        read_table,
        row_hashes,
        split_holdout,
        to_parquet,
    )
    from mlcore.data.parts import (
        MergedParts,
        SplitCounter,
        count_part,
        holdout_draw,
        in_parts,
        merge_parts,
        plan_parts,
    )
    from mlcore.data.point_in_time import (
        OfflineFile,
        as_of_join,
        join_view,
        offline_files,
        read_offline,
        training_set,
        view_schema,
    )
    from mlcore.data.profile import (
        OTHER,
        PSI_EDGES,
        QUANTILES,
        CategoricalProfile,
        FeatureProfile,
        NumericProfile,
        Profile,
        bin_counts,
        build_profile,
        categorical_profile,
        category_counts,
        numeric_profile,
        quantiles_at,
        sorted_present,
        value_label,
    )
    from mlcore.data.report import render_contract_html
    from mlcore.data.sources import (
        Feedback,
        data_fingerprint,
        feedback_rows,
        learned_already,
        learned_before,
        nothing_new_from,
        rows_digest,
        training_fingerprint,
    )
    from mlcore.data.validation import validate_dataset, validate_step
    from mlcore.data.windows import (
        capture_window,
        labelled_rows,
        labelled_window,
        read_parquet_window,
        read_window,
    )

__all__, __getattr__, __dir__ = surface(__name__, __file__)
