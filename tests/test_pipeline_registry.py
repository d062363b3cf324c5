"""Every pipeline is registered, every node is named after the function it runs, and
``__default__`` is the sum of the pipelines that need no run-time input."""

from __future__ import annotations

import pytest
from kedro.framework.project import pipelines
from kedro.framework.startup import bootstrap_project

from tests.conftest import PROJECT_ROOT

# need inference.image_path, mapping.scene, mapping.scenes, batch_inference.input,
# change.before / after and training.distill.teacher at run time (written out here, not
# imported, so that the test states the contract itself)
ON_DEMAND = ("inference", "mapping", "mapping_many", "batch_inference", "landuse_change", "teacher")


@pytest.fixture(scope="module")
def registered():
    bootstrap_project(PROJECT_ROOT)
    return dict(pipelines)


def test_node_names_equal_their_function_names(registered):
    assert {"data_processing", "training", "evaluation", "deployment", "inference"} <= set(
        registered
    )
    for name, pipeline in registered.items():
        for node in pipeline.nodes:
            assert node.name == node.func.__name__, (name, node.name)


def test_on_demand_pipelines_share_no_node_with_the_default_run(registered):
    default = {node.name for node in registered["__default__"].nodes}
    for name in ON_DEMAND:
        nodes = {node.name for node in registered[name].nodes}
        assert nodes and not nodes & default, (name, nodes & default)


def test_the_default_run_is_every_other_pipeline(registered):
    others = [p for name, p in registered.items() if name not in (*ON_DEMAND, "__default__")]
    assert len(others) >= 4
    assert {node.name for node in registered["__default__"].nodes} == {
        node.name for pipeline in others for node in pipeline.nodes
    }


def test_every_node_carries_its_pipelines_name_as_a_tag(registered):
    """So `kedro run --tags NAME` and kedro viz's tag filter select the pipeline."""
    for name, pipeline in registered.items():
        if name != "__default__":
            untagged = sorted(node.name for node in pipeline.nodes if name not in node.tags)
            assert not untagged, (name, untagged)


def test_the_teacher_pipeline_makes_the_teacher_the_training_pipeline_learns_from(registered):
    """So `kedro run --pipelines teacher,training` trains the teacher, then the student."""
    (teacher,) = registered["teacher"].nodes
    assert "teacher_model" in teacher.outputs
    assert "teacher_model" in registered["training"].inputs()
    both = registered["teacher"] + registered["training"]
    assert "teacher_model" not in both.inputs()  # made within the run
    order = [node.name for node in both.nodes]
    assert order.index("train_teacher") < order.index("train_model")
