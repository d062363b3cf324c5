"""Both notebooks run top to bottom on the sample environment (nbclient, Kedro IPython ext)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import PROJECT_ROOT


@pytest.mark.parametrize("name", ["01_data_exploration.ipynb", "02_results.ipynb"])
def test_notebook_runs_top_to_bottom(trained_copy: Path, name: str, monkeypatch):
    folder = trained_copy / "notebooks"
    folder.mkdir(exist_ok=True)
    shutil.copy(PROJECT_ROOT / "notebooks" / name, folder / name)
    notebook = nbformat.read(folder / name, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    monkeypatch.setenv("KEDRO_ENV", "sample")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # `kedro jupyter lab` starts kernels in the project root; so does this test
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(trained_copy)}},
    ).execute()
    text = "\n".join(str(o.get("text", "")) for c in notebook.cells for o in c.get("outputs", []))
    if name == "02_results.ipynb":
        assert "test accuracy" in text and "predicted:" in text
    else:
        assert "300 files, 300 usable, 0 bad" in text
    assert os.environ["KEDRO_ENV"] == "sample"
