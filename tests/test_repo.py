"""Repository invariants: clean notebooks, the same packages for pip and conda, one repo URL,
every chapter's first cell installs seqlab, every citation key exists."""

import json
import re
from pathlib import Path

import pytest
import yaml

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


def _name(requirement: str) -> str:
    name = re.split(r"[<>=!~\[ ;@]", requirement.strip(), maxsplit=1)[0].lower()
    return {"pytorch": "torch"}.get(name, name).replace("_", "-")


def test_there_are_chapters():
    assert NOTEBOOKS, "no notebooks under book/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_are_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    dirty = [
        i
        for i, c in enumerate(nb["cells"])
        if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; strip them (nbstripout)"


def test_environment_yml_names_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = {_name(r) for r in project["dependencies"] + extras["book"] + extras["test"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        for req in dep["pip"] if isinstance(dep, dict) else [dep]:
            if not req.startswith("-e"):
                names.add(_name(req))
    names -= {"python", "pip"}
    assert names == wanted, (
        f"only in environment.yml: {names - wanted}; only in pyproject: {wanted - names}"
    )


def _repo_url() -> str:
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_installs_seqlab_from_the_configured_repository(path):
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    first = "".join(cells[0]["source"])
    assert 'find_spec("seqlab") is None' in first, "first cell must install seqlab when missing"
    assert f"git+{_repo_url()}" in first, "install URL differs from _config.yml repository.url"
    assert "seqlab.notebook.setup(" in first


def test_every_cited_key_is_in_the_bibliography():
    bib = (ROOT / "book" / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    cited = set()
    for path in [*NOTEBOOKS, *(ROOT / "book").glob("*.md")]:
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", path.read_text()):
            cited |= {k.strip() for k in group.split(",")}
    from seqlab.viz.timeline import load_timeline

    cited |= set(load_timeline()["cite"])
    assert cited - keys == set(), f"cited but not in references.bib: {sorted(cited - keys)}"


def test_the_bibliography_parses_as_the_book_build_reads_it():
    """sphinxcontrib-bibtex reads references.bib with pybtex; an entry left unclosed (as a merge
    of two appended entries once did) fails the whole build, not one citation."""
    from pybtex.database import parse_file

    bib = ROOT / "book" / "references.bib"
    entries = parse_file(str(bib), bib_format="bibtex").entries
    assert len(entries) == len(re.findall(r"^@\w+\{", bib.read_text(), flags=re.M))


def test_toc_lists_every_chapter():
    toc = (ROOT / "_toc.yml").read_text()
    missing = [p.stem for p in NOTEBOOKS if f"book/{p.stem}" not in toc]
    assert not missing, f"chapters missing from _toc.yml: {missing}"


def test_timeline_table_names_each_paper_once():
    from seqlab.viz.timeline import load_timeline, timeline_markdown

    df = load_timeline()
    book = timeline_markdown(df).splitlines()[2:]
    assert len(book) == len(df)
    for line, row in zip(book, df.itertuples(index=False), strict=True):
        paper = line.split("|")[4].strip()
        assert paper == f"{{cite:t}}`{row.cite}`"  # the role prints the authors: not twice
    plain = timeline_markdown(df, cite_roles=False).splitlines()[2:]
    assert all("{cite" not in line for line in plain) and df.authors[0] in plain[0]
