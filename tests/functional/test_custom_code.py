"""A model's own training code: packaged reproducibly, stored by SHA-256, pinned by the run, trained and exported."""

from __future__ import annotations

import hashlib
import io
import json
import re
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from mlcore.catalog import (
    Artifact,
    EvaluateRequest,
    PipelineInput,
    RegisterRequest,
    ValidateRequest,
    ValidateResult,
    code_key,
    current_code_key,
)
from mlcore.data import validate_dataset
from mlcore.errors import ArtifactIntegrityError, BadRequestError, NotFoundError, SpecError, TrainingError
from mlcore.registry import Registry, VersionStatus, register_candidate
from mlcore.spec import ModelSpec, parse_spec
from mlcore.storage import ObjectStore
from mlcore.training import evaluate_candidate, train_candidate
from mlcore.training.custom import install_code, package_code

# The user's package: a logistic regression of its own class, with the ONNX converter it needs.
MODEL_PY = textwrap.dedent(
    """
    from sklearn.linear_model import LogisticRegression


    class ShrunkLogistic(LogisticRegression):
        '''A class skl2onnx does not know: the package registers its converter.'''


    def build(C=1.0, **params):
        return ShrunkLogistic(C=C, max_iter=500, **params)


    def register_converters():
        from skl2onnx import update_registered_converter
        from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
        from skl2onnx.operator_converters.linear_classifier import convert_sklearn_linear_classifier

        update_registered_converter(
            ShrunkLogistic,
            "ShrunkLogistic",
            calculate_linear_classifier_output_shapes,
            convert_sklearn_linear_classifier,
            options={"zipmap": [True, False, "columns"], "nocl": [True, False], "raw_scores": [True, False]},
        )
    """
)


@pytest.fixture
def package(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "shrunk_model").mkdir(parents=True)
    (root / "shrunk_model" / "__init__.py").write_text("")
    (root / "shrunk_model" / "model.py").write_text(MODEL_PY)
    (root / "shrunk_model" / "__pycache__").mkdir()
    (root / "shrunk_model" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"stale")
    return root


@pytest.fixture(autouse=True)
def forget_imported_code() -> Iterator[None]:
    """Each test imports the user's code afresh (the job's process imports it once)."""
    path = list(sys.path)
    yield
    sys.path[:] = path
    for name in [m for m in sys.modules if m.startswith("shrunk_model")]:
        del sys.modules[name]


def upload(artifacts: ObjectStore, model: str, path: Path) -> Artifact:
    """What `mlops code upload` stores: the package by its SHA-256, and the pointer to it."""
    filename, blob = package_code(path)
    stored = artifacts.put(code_key(model, hashlib.sha256(blob).hexdigest(), filename), blob)
    artifacts.put(current_code_key(model), stored.model_dump_json().encode(), "application/json")
    return stored


def validate(registry: Registry, data: ObjectStore, artifacts: ObjectStore, run_id: str) -> ValidateResult:
    request = ValidateRequest(request=PipelineInput(model_name="churn"), run_id=run_id)
    return validate_dataset(request, registry=registry, data=data, artifacts=artifacts, capture=artifacts)


@pytest.fixture
def uploaded(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry,
    data: ObjectStore,
    artifacts: ObjectStore,
    churn_spec: ModelSpec,
    churn_dataset: pa.Table,
    package: Path,
) -> Artifact:
    """GIVEN the custom churn spec registered, its code uploaded, and a dataset."""
    registry.put_spec(custom_spec(churn_spec), actor="test")
    data.put("datasets/churn/a.parquet", _parquet(churn_dataset))
    return upload(artifacts, "churn", package)


def custom_spec(churn_spec: ModelSpec, **estimator: object) -> ModelSpec:
    raw = churn_spec.model_dump(mode="json")
    raw["estimator"] = {"kind": "custom", "entrypoint": "shrunk_model.model:build", "params": {"C": 0.5}, **estimator}
    return parse_spec(raw)


def test_a_folder_packages_to_the_same_bytes_every_time_without_caches(package: Path) -> None:
    name, first = package_code(package)
    (package / "shrunk_model" / "model.py").touch()  # a newer mtime changes nothing
    assert package_code(package) == (name, first)
    assert name == "code.zip"
    assert sorted(zipfile.ZipFile(io.BytesIO(first)).namelist()) == [
        "shrunk_model/__init__.py",
        "shrunk_model/model.py",
    ]


def test_a_wheel_is_uploaded_as_it_is(tmp_path: Path) -> None:
    wheel = tmp_path / "shrunk_model-1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    assert package_code(wheel) == (wheel.name, wheel.read_bytes())


@pytest.mark.parametrize(
    ("what", "said"),
    [
        ("missing", "no such file or folder"),
        ("empty", "no Python files in the folder"),
        ("text file", "expected a folder of Python code or a .whl file"),
    ],
)
def test_what_is_not_code_is_refused_naming_the_path(tmp_path: Path, what: str, said: str) -> None:
    path = tmp_path / "code"
    if what == "empty":
        path.mkdir()
        (path / "README.md").write_text("no code")
    elif what == "text file":
        path.write_text("print('hi')")
    with pytest.raises(BadRequestError) as caught:
        package_code(path)
    assert (caught.value.message, caught.value.field) == (f"{path}: {said}", "path")


def test_installed_code_is_imported_after_the_platforms_packages(artifacts: ObjectStore, package: Path) -> None:
    stored = upload(artifacts, "churn", package)
    target = install_code(stored, artifacts)
    assert sys.path[-1] == str(target)  # appended: it cannot shadow numpy, scikit-learn or mlcore
    assert (target / "shrunk_model" / "model.py").read_text() == MODEL_PY
    assert install_code(stored, artifacts) == target  # a second job of the run reuses it


def test_a_new_upload_of_the_same_package_is_what_the_next_run_imports(artifacts: ObjectStore, package: Path) -> None:
    from mlcore.training.custom import entrypoint

    # GIVEN a run that imported the package's builder (as the local target's process trains run after run)
    first = upload(artifacts, "churn", package)
    install_code(first, artifacts)
    assert entrypoint("shrunk_model.model:build")(C=2.0).C == 2.0
    # WHEN the package is uploaded again, its builder now broken, and the next run installs it
    (package / "shrunk_model" / "model.py").write_text(
        "def build(**params):\n    raise ValueError('broken on purpose')\n"
    )
    second = upload(artifacts, "churn", package)
    target = install_code(second, artifacts)
    # THEN the run imports the new upload's code, not the one the process loaded before, and only it is on the path
    with pytest.raises(ValueError, match="broken on purpose"):
        entrypoint("shrunk_model.model:build")()
    uploads = [entry for entry in sys.path if Path(entry).parent == target.parent]
    assert uploads == [str(target)]


def test_code_whose_bytes_changed_after_upload_is_refused(artifacts: ObjectStore, package: Path) -> None:
    stored = upload(artifacts, "churn", package)
    key = stored.uri.removeprefix(f"s3://{artifacts.bucket}/")
    artifacts.put(key, package_code(package)[1] + b"tampered")
    with pytest.raises(ArtifactIntegrityError):
        install_code(stored, artifacts)


def test_an_archive_reaching_outside_its_folder_is_refused(artifacts: ObjectStore) -> None:
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w") as archive:
        archive.writestr("../../escape.py", "x = 1")
    blob = sink.getvalue()
    stored = artifacts.put(code_key("churn", hashlib.sha256(blob).hexdigest(), "code.zip"), blob)
    with pytest.raises(TrainingError, match=re.escape("an entry outside its folder: '../../escape.py'")):
        install_code(stored, artifacts)


def test_a_custom_estimator_is_pinned_by_the_run_trained_exported_and_recorded(
    uploaded: Artifact, registry: Registry, data: ObjectStore, artifacts: ObjectStore, package: Path
) -> None:
    stored = uploaded
    # WHEN the run validates, then a new upload lands before the job starts
    inputs = validate(registry, data, artifacts, "run-1")
    (package / "shrunk_model" / "other.py").write_text("y = 2")
    upload(artifacts, "churn", package)
    trained = train_candidate("churn", "run-1", registry=registry, artifacts=artifacts)
    # THEN the job trained the code the run pinned, with the spec's parameters, through the user's converter
    assert inputs.code == stored
    assert trained.code == stored
    assert trained.params["C"] == 0.5
    assert trained.parity_max_abs_diff < 1e-3
    assert trained.metrics["roc_auc"] > 0.6
    evaluation = evaluate_candidate(
        EvaluateRequest(model_name="churn", run_id="run-1"), registry=registry, artifacts=artifacts
    )
    register_candidate(RegisterRequest(evaluation=evaluation), registry=registry, artifacts=artifacts)
    assert registry.get_version("churn", 1).code == stored


def test_new_code_on_the_same_data_is_something_new_to_learn(
    uploaded: Artifact, registry: Registry, data: ObjectStore, artifacts: ObjectStore, package: Path
) -> None:
    def run(run_id: str) -> bool:
        inputs = validate(registry, data, artifacts, run_id)
        if not inputs.nothing_new:
            train_candidate("churn", run_id, registry=registry, artifacts=artifacts)
            evaluation = evaluate_candidate(
                EvaluateRequest(model_name="churn", run_id=run_id), registry=registry, artifacts=artifacts
            )
            registered = register_candidate(
                RegisterRequest(evaluation=evaluation), registry=registry, artifacts=artifacts
            )
            registry.set_alias("churn", "champion", registered.version, actor="test")
        return inputs.nothing_new

    assert run("run-1") is False
    assert run("run-2") is True  # same data, same code
    (package / "shrunk_model" / "model.py").write_text(MODEL_PY.replace("max_iter=500", "max_iter=600"))
    upload(artifacts, "churn", package)
    assert run("run-3") is False  # same data, new code

    # WHEN the version of the new code (v2) is rejected, and v1 serves again
    registry.set_status("churn", 2, VersionStatus.REJECTED, "test", "bad")
    assert registry.get_alias("churn").version == 1  # type: ignore[union-attr]
    # THEN the same data and code have nothing new to learn: it would only train v2 again
    assert run("run-4") is True
    assert validate(registry, data, artifacts, "run-5").learned_by == (
        "version 2 (rejected, not the champion) learned from exactly this data"
    )
    # AND other code on that data (v1's old code is the champion's) trains
    (package / "shrunk_model" / "model.py").write_text(MODEL_PY.replace("max_iter=500", "max_iter=700"))
    upload(artifacts, "churn", package)
    assert run("run-6") is False
    # AND back to v2's code (uploads are content-addressed), rejected as it is: nothing new, though v3 is newer
    registry.set_status("churn", 3, VersionStatus.REJECTED, "test", "bad too")
    (package / "shrunk_model" / "model.py").write_text(MODEL_PY.replace("max_iter=500", "max_iter=600"))
    upload(artifacts, "churn", package)
    assert validate(registry, data, artifacts, "run-7").learned_by == (
        "version 2 (rejected, not the champion) learned from exactly this data"
    )


def test_a_custom_spec_without_uploaded_code_fails_validation_saying_how_to_upload(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_spec: ModelSpec, churn_dataset: pa.Table
) -> None:
    registry.put_spec(custom_spec(churn_spec), actor="test")
    data.put("datasets/churn/a.parquet", _parquet(churn_dataset))
    with pytest.raises(NotFoundError, match=r"upload it with `mlops code upload churn PATH`") as caught:
        validate(registry, data, artifacts, "run-1")
    assert caught.value.field == "estimator.entrypoint"


@pytest.mark.parametrize(
    ("entrypoint", "message"),
    [
        ("missing_package.model:build", "cannot import missing_package.model"),
        ("shrunk_model.model:fit_me", "shrunk_model.model has no 'fit_me'"),
        ("shrunk_model.model:named", "returned a str, not a scikit-learn compatible estimator"),
        ("shrunk_model.model:MODEL", "failed with {}: 'str' object is not callable"),
    ],
)
def test_an_entrypoint_that_gives_no_estimator_fails_naming_it(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry,
    artifacts: ObjectStore,
    churn_spec: ModelSpec,
    churn_dataset: pa.Table,
    package: Path,
    entrypoint: str,
    message: str,
) -> None:
    from mlcore.training import fit

    extra = "\nMODEL = 'not a builder'\n\n\ndef named(**params):\n    return 'a name'\n"
    (package / "shrunk_model" / "model.py").write_text(MODEL_PY + extra)
    install_code(upload(artifacts, "churn", package), artifacts)
    spec = custom_spec(churn_spec, entrypoint=entrypoint, params={})
    with pytest.raises(TrainingError, match=re.escape(f"estimator.entrypoint '{entrypoint}'")) as caught:
        fit(spec, churn_dataset)
    assert message in caught.value.message


def test_entrypoints_are_module_colon_name(churn_spec: ModelSpec) -> None:
    raw = json.loads(custom_spec(churn_spec).model_dump_json())
    for bad in ("shrunk_model.model", "shrunk_model/model:build", "1model:build", "m:build()"):
        raw["estimator"]["entrypoint"] = bad
        with pytest.raises(SpecError, match=r"estimator\.entrypoint"):
            parse_spec(raw)
    raw["estimator"] = {"kind": "random_forest_classifier", "entrypoint": "m:build"}
    with pytest.raises(SpecError, match=r"^estimator\.entrypoint: required for estimator kind 'custom', and only for"):
        parse_spec(raw)


def _parquet(table: pa.Table) -> bytes:
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def test_an_estimator_onnx_cannot_convert_fails_the_job_naming_it_and_why(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, package: Path, uploaded: Artifact
) -> None:
    from mlcore.errors import ConversionError

    without = MODEL_PY.replace("def register_converters():", "def _not_registered():")
    (package / "shrunk_model" / "model.py").write_text(without)
    upload(artifacts, "churn", package)
    validate(registry, data, artifacts, "run-1")
    with pytest.raises(ConversionError, match=r"estimator 'custom' \(ShrunkLogistic\) cannot be exported to ONNX: "):
        train_candidate("churn", "run-1", registry=registry, artifacts=artifacts)
    assert registry.list_versions("churn") == []
