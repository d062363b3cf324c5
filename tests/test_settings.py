"""settings.py's configuration: every environment overrides single keys of conf/base, and
the catalog it loads serves every registered pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kedro.config import OmegaConfigLoader
from kedro.framework.project import pipelines
from kedro.framework.startup import bootstrap_project
from kedro.io.catalog_config_resolver import CatalogConfigResolver

from eurosat_kedro.models import ModelSpec
from eurosat_kedro.settings import CONFIG_LOADER_ARGS
from eurosat_kedro.training.config import RuntimeConfig, TrainConfig
from tests.conftest import LAYERS, PROJECT_ROOT, catalog_config, catalog_entry, viz_layer

CONF = PROJECT_ROOT / "conf"
BASE = CONFIG_LOADER_ARGS["base_env"]
ENVIRONMENTS = sorted(p.name for p in CONF.iterdir() if p.is_dir() and p.name != BASE)
# each layer's folder under the data root: 01_raw ... 08_reporting
FOLDERS = {layer: f"{i:02d}_{layer}" for i, layer in enumerate(LAYERS, start=1)}


def _loader(env: str) -> OmegaConfigLoader:
    return OmegaConfigLoader(str(CONF), env=env, **CONFIG_LOADER_ARGS)


def _flat(tree: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists are values)."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _own(env: str, pattern: str) -> dict:
    """The keys ``env``'s own files matching ``pattern`` set, as written (unresolved)."""
    keys = {}
    for path in sorted((CONF / env).glob(pattern)):
        keys.update(_flat(yaml.safe_load(path.read_text()) or {}))
    return keys


def test_the_default_and_sample_environments_exist():
    assert CONFIG_LOADER_ARGS["default_run_env"] in ENVIRONMENTS
    assert {"sample"} <= set(ENVIRONMENTS)


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("pattern", ["parameters*.yml", "globals*.yml", "mlflow*.yml"])
def test_an_environment_sets_only_keys_that_base_has(env, pattern):
    """A key only an environment knows is a typo, or a setting the other environments lack."""
    base = _own(BASE, pattern)
    unknown = [key for key in _own(env, pattern) if key not in base]
    assert not unknown, f"conf/{env} sets {unknown}, which conf/{BASE} does not have"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_an_environment_overrides_its_keys_and_keeps_the_rest_of_base(env):
    base, merged = _flat(_loader(BASE)["parameters"]), _flat(_loader(env)["parameters"])
    own, written = _own(env, "parameters*.yml"), _own(BASE, "parameters*.yml")
    assert set(merged) == set(base)
    for key in base:
        if key not in own and "${" in str(written[key]):
            continue  # interpolated, e.g. from the environment's globals
        assert merged[key] == own.get(key, base[key]), key


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environments_model_and_recipe_are_valid(env):
    """Every key is one the model and the loop know (a typo would only fail at training time)."""
    parameters = _loader(env)["parameters"]
    spec = ModelSpec.from_params(
        parameters["model"], num_classes=len(parameters["data"]["classes"])
    )
    TrainConfig.from_params(parameters["training"], spec.to_dict())
    RuntimeConfig.from_params(parameters["runtime"])


@pytest.mark.parametrize("env", ["best", "distill"])
def test_a_distilling_environment_ships_a_one_pass_student_of_a_teacher_with_its_own_checkpoint(
    env,
):
    """The teacher pipeline writes the file the student learns from (the parameter and the
    catalog name one file), the two models never share a checkpoint, and the student is
    judged, exported and served in one pass."""
    config = _loader(env)
    parameters, teacher = config["parameters"], config["globals"]["distill_teacher"]
    assert parameters["training"]["distill"]["teacher"] == teacher
    assert catalog_config(env).config["teacher_model"]["filepath"] == teacher
    runtime = RuntimeConfig.from_params(parameters["runtime"])
    assert runtime.checkpoint_path != runtime.for_teacher().checkpoint_path
    assert runtime.for_teacher().checkpoint_path is not None
    assert parameters["evaluation"]["tta"] is False


def test_the_sample_environment_runs_offline_into_its_own_folder():
    base, sample = _loader(BASE)["globals"], _loader("sample")["globals"]
    assert Path(sample["data_root"]).is_relative_to(base["data_root"])
    assert sample["data_root"] != base["data_root"]  # a sample run never overwrites a full one
    assert (PROJECT_ROOT / sample["archive_url"]).is_file()  # committed: no download


# ---------------------------------------------------------------- the catalog


@pytest.fixture(scope="module")
def registered():
    bootstrap_project(PROJECT_ROOT)
    return dict(pipelines)


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def env(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def catalog(env: str) -> CatalogConfigResolver:
    return catalog_config(env)


@pytest.fixture(scope="module")
def data_root(env: str) -> str:
    return _loader(env)["globals"]["data_root"]


def _free_inputs(pipeline) -> set[str]:
    return {d for d in pipeline.inputs() if d != "parameters" and not d.startswith("params:")}


def test_every_pipeline_runs_alone_its_free_inputs_are_in_the_catalog(registered, catalog):
    for name, pipeline in registered.items():
        missing = sorted(d for d in _free_inputs(pipeline) if catalog_entry(catalog, d) is None)
        assert not missing, f"{name} needs {missing}, which no catalog entry provides"


def test_no_output_is_computed_and_dropped(registered, catalog):
    for name, pipeline in registered.items():
        dropped = sorted(d for d in pipeline.outputs() if catalog_entry(catalog, d) is None)
        assert not dropped, f"{name} outputs {dropped}, which nothing saves or uses"


def test_every_catalog_entry_is_used(registered, catalog):
    used = set().union(*(pipeline.datasets() for pipeline in registered.values()))
    assert not sorted(set(catalog.config) - used)


def _filepath(entry: dict) -> str | None:
    inner = entry.get("dataset")
    return entry.get("filepath") or (inner.get("filepath") if isinstance(inner, dict) else None)


def test_every_persisted_dataset_sits_in_its_layers_folder(registered, catalog, data_root):
    for dataset in sorted(set().union(*(p.datasets() for p in registered.values()))):
        entry = catalog_entry(catalog, dataset)
        if entry is None:
            continue  # in memory
        layer = viz_layer(entry)
        assert layer is None or layer in LAYERS, (dataset, layer)
        path = _filepath(entry)
        if path and Path(path).is_relative_to(data_root):
            assert layer, f"{dataset} is saved to {path} but has no kedro-viz layer"
            folder = Path(path).relative_to(data_root).parts[0]
            assert folder == FOLDERS[layer], f"{dataset} ({layer}) is saved in {folder}"
