"""The quarterly notebook, executed headless as a reader would run it."""

import nbformat
from nbclient import NotebookClient

from conftest import ROOT


def test_the_quarterly_notebook_runs_and_shows_the_report():
    path = ROOT / "notebooks" / "quarterly.ipynb"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, errors
    html = [o["data"]["text/html"] for o in outputs if o.output_type in ("execute_result", "display_data") and "text/html" in o.get("data", {})]
    # The last cell shows the validation report inline, with its charts (in a frame of its own).
    assert any(h.startswith("<iframe srcdoc=") and "&lt;svg" in h and "Score-to-renewal" in h for h in html)
    # The explained account shows as its card.
    assert any(h.startswith("<pre") for h in html)
