"""The serving contract: signature, config and summary defined once."""

from __future__ import annotations

from eurosat_kedro.serving.contract import (
    INPUT_COLUMNS,
    MAX_ERRORS_IN_SUMMARY,
    OUTPUT_COLUMNS,
    SPARK_RESULT_FIELDS,
    SUMMARY_KEYS,
    TABLE_COLUMNS,
    ServingConfig,
    model_signature,
    summary,
)


def test_the_signature_names_every_input_and_output_column_and_on_error():
    signature = model_signature()
    assert tuple(signature.inputs.input_names()) == INPUT_COLUMNS
    assert tuple(signature.outputs.input_names()) == OUTPUT_COLUMNS
    assert [p.name for p in signature.params.params] == ["on_error"]


def test_spark_and_the_table_read_the_same_columns_as_the_server_answers():
    per_file = tuple(c for c in OUTPUT_COLUMNS if c != "probabilities")
    assert tuple(SPARK_RESULT_FIELDS) == per_file
    assert ("path", *per_file) == TABLE_COLUMNS


def test_config_round_trips_through_json():
    scores = {"accuracy": 0.9, "accuracy_ci_low": 0.85, "accuracy_ci_high": 0.93}
    config = ServingConfig(
        ("A", "B"), topk=2, allowed_roots=("/data",), precision="int8", test_scores=scores
    )
    assert ServingConfig.from_json(config.to_json()) == config
    assert config.to_json()["classes"] == ["A", "B"]


def test_a_config_written_before_test_scores_were_kept_still_loads():
    old = {"classes": ["A", "B"], "topk": 2, "allowed_roots": ["data"], "precision": "fp32"}
    assert ServingConfig.from_json(old) == ServingConfig(("A", "B"), topk=2)
    assert ServingConfig.from_json(old).test_scores == {}


def test_the_summary_counts_and_keeps_the_first_errors():
    errors = [(f"f{i}", "bad") for i in range(MAX_ERRORS_IN_SUMMARY + 5)]
    result = summary(110, {"B": 3, "A": 2}, errors, len(errors))
    assert tuple(result) == SUMMARY_KEYS
    assert (result["n_files"], result["n_predicted"], result["n_errors"]) == (110, 5, 105)
    assert list(result["counts"]) == ["A", "B"] and len(result["errors"]) == MAX_ERRORS_IN_SUMMARY
    assert result["errors"][0] == {"path": "f0", "error": "bad"}
