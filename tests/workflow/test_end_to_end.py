"""The whole workflow on a small generated trial: correct against the known truth, and (marked
slow) byte-identical whatever the number of cores, so job order does not matter.

The default run keeps the trial large enough to test against the truth but the fewest imputations,
iterations and resamples that still exercise every rule: the rules' statistics are tested at full
size in the unit and reference tests; what this run adds is that every rule hands the next one what
it expects. ``tests/unit/analyses/test_impute_workflow_model.py`` guards in the default suite that
one imputation and its fit do not depend on what ran before them in the process.
"""

from __future__ import annotations

import copy
import filecmp
import io
import json
import re
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from trial.data.intermediate import read_intermediate
from trial.studies.synthetic import write_example

from ..conftest import ROOT

FIXTURES = ROOT / "tests" / "workflow" / "fixtures"


def small_trial_config(config: dict, folder) -> dict:
    """40 clusters, 1200 individuals (precise enough to test against the truth), 2 imputations."""
    config["synthetic"]["clusters"] = {
        "SLaM": {"control": 10, "refocus": 10},
        "2gether": {"control": 10, "refocus": 10},
    }
    config["synthetic"]["individuals"] = 1200
    config["synthetic"]["truth_population"] = 20000
    config["analysis"]["outcomes"] = [
        o for o in config["analysis"]["outcomes"] if o["scale"] in ("qpr_total", "functioning")
    ]
    config["multiplicity"]["families"] = [{"name": "secondary", "outcomes": ["functioning"]}]
    # some treatment clusters take no part, so the complier-average effect is not the ITT
    config["synthetic"]["participation"]["non_participating"] = 0.25
    config["imputation"].update(m=2, iterations=2)
    # Fewer resamples: this test checks agreement with the truth and across cores, not the
    # precision of bootstrap or permutation intervals.
    config["costs"]["bootstrap"].update(replicates=200, chunks=2)
    config["icc"]["bootstrap"] = 100
    config["participation"]["bootstrap"] = 10
    config["sensitivity"]["permutations"] = 500
    config["paths"] = {
        "raw": str(folder / "raw"),
        "derived": str(folder / "derived"),
        "reports": str(folder / "reports"),
    }
    return config


def snakemake_command(config_path, workdir, *options: str) -> list[str]:
    """The command line of Snakemake on a config in ``workdir``, with further options."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(config_path),
        *options,
    ]


def start_workflow(config_path, workdir, cores, targets=()) -> subprocess.Popen:
    """Snakemake on a config, in the background (to its default or the given targets)."""
    command = snakemake_command(
        config_path, workdir, "--cores", str(cores), "-q", "--", *(str(t) for t in targets)
    )
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def finish(*jobs: subprocess.Popen) -> None:
    """Wait for every run; each must succeed."""
    for job in jobs:
        output, _ = job.communicate()
        assert job.returncode == 0, output.decode()


def run_workflow(config_path, workdir, cores):
    finish(start_workflow(config_path, workdir, cores))


def write_config(config: dict, folder, raw, name: str = "trial.yaml"):
    """Point ``config`` at the raw data in ``raw`` and its results into ``folder``, write it there
    as ``name`` and return its path."""
    config["paths"] = {
        "raw": str(raw),
        "derived": str(folder / "derived"),
        "reports": str(folder / "reports"),
    }
    path = folder / name
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def write_trial(example_config, folder, raw=None) -> tuple[dict, object]:
    """The small trial's config in ``folder`` (and its generated raw data, unless ``raw`` names
    the folder of an earlier one)."""
    config = small_trial_config(copy.deepcopy(example_config), folder)
    if raw is None:
        raw = config["paths"]["raw"]
        write_example(config, raw)
    return config, write_config(config, folder, raw)


@pytest.fixture(scope="module")
def run(example_config, tmp_path_factory):
    """The whole workflow on the small trial, on two cores."""
    folder = tmp_path_factory.mktemp("run2")
    config, config_path = write_trial(example_config, folder)
    run_workflow(config_path, folder, 2)
    return config, folder


@pytest.fixture(scope="module")
def rerun(example_config, run, tmp_path_factory):
    """The same trial again from its raw data, on one core (so in another job order)."""
    folder = tmp_path_factory.mktemp("run1")
    config, config_path = write_trial(example_config, folder, raw=run[0]["paths"]["raw"])
    run_workflow(config_path, folder, 1)
    return config, folder


def test_primary_estimate_recovers_the_truth(run):
    config, folder = run
    truth = json.loads((folder / "raw" / "truth.json").read_text())
    outcomes = pd.read_csv(folder / "reports" / "tables" / "outcomes.csv").set_index("outcome")
    for scale in ("qpr_total", "functioning"):
        row = outcomes.loc[scale]
        true_value = truth["outcomes"][scale]["arm_minus_reference"]["refocus"]
        # 40 clusters x 30: the SE must be small enough for the check to mean something, and
        # the estimate within 3 SE of the truth (a wrong sign, scale or model fails this).
        assert row["se"] < 0.25 * abs(true_value) + 1.0
        assert abs(row["estimate"] - true_value) < 3 * row["se"], (
            scale,
            row["estimate"],
            true_value,
        )
        # deaths are left out of the outcome analyses (the config's while-alive strategy)
        consumers = pd.read_csv(folder / "raw" / "consumers.csv")
        died = int((consumers["followup_status"] == "died").sum())
        assert died > 0
        assert row["n_clusters"] == 40 and row["n_individuals"] == 1200 - died
        assert row["df_method"] == "kenward-roger"
        assert 10 < row["df"] < 40  # cluster-level df, not the individual-level n - p


def test_instrumental_variable_estimates_recover_the_truth(run):
    config, folder = run
    truth = json.loads((folder / "raw" / "truth.json").read_text())["outcomes"]["functioning"]
    table = pd.read_csv(folder / "reports" / "tables" / "participation.csv")
    iv = table[(table["outcome"] == "functioning") & (table["basis"] == "instrumental variable")]
    assert len(iv) == 4 and set(iv["method"]) == {"2sls", "cluster_level"}
    share = truth["complier_average_effect"]
    assert share > 1.1 * truth["arm_minus_reference"]["refocus"]  # CACE differs from the ITT
    for row in iv.itertuples():
        key = "complier_average_effect" if row.analysis == "complier_average" else "dose_effect"
        assert abs(row.estimate - truth[key]) < 3 * row.se, (row.analysis, row.method)
        assert row.first_stage < 1 and row.df < 40  # cluster df
        assert row.boot_low < row.estimate < row.boot_high


def test_flow_counts_equal_counts_from_the_raw_file(run):
    config, folder = run
    consumers = pd.read_csv(folder / "raw" / "consumers.csv")
    teams = pd.read_csv(folder / "raw" / "teams.csv")
    arm = consumers["team_id"].map(teams.set_index("team_id")["arm"])
    flow = pd.read_csv(folder / "reports" / "tables" / "flow.csv")
    for code in ("refocus", "control"):
        got = flow[(flow["arm"] == code)].set_index("stage")["n"]
        assert got["assessed at baseline"] == (arm == code).sum()
        assert (
            got["followed up"]
            == ((arm == code) & (consumers["followup_status"] == "completed")).sum()
        )
        reasons = consumers.loc[
            (arm == code) & (consumers["followup_status"] != "completed"), "followup_status"
        ]
        for reason, n in reasons.value_counts().items():
            assert got[f"lost: {reason}"] == n
        assert got["randomised"] == (teams["arm"] == code).sum()


def test_flow_diagram_is_vector_text_holding_the_flow_counts(run):
    import re

    config, folder = run
    svg = (folder / "reports" / "figures" / "consort_flow.svg").read_text()
    texts = {t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)}
    flow = pd.read_csv(folder / "reports" / "tables" / "flow.csv")
    n = flow.set_index(["level", "stage", "arm"])["n"].sort_index()
    design = config["design"]
    assert f"{n.loc['cluster', 'randomised'].sum()} teams randomised" in texts
    for arm, label in design["arm_labels"].items():
        assert f"Allocated to {label}" in texts
        assert f"{n.loc[('cluster', 'randomised', arm)]} teams" in texts
        assert f"{n.loc[('individual', 'followed up', arm)]} consumers followed up" in texts
        analysed = n.loc[("individual", "analysed (multiple imputation, intention to treat)", arm)]
        assert f"{n.loc[('cluster', 'analysed', arm)]} teams, {analysed} consumers" in texts
    # individuals per cluster in each allocation box, as counted from the analysis table
    table = read_intermediate(config, folder / "derived" / "scored" / "analysis_table.parquet")
    teams = pd.read_csv(folder / "raw" / "teams.csv")
    counts = table.groupby("team_id").size()
    for arm in design["arm_labels"]:
        ids = teams.loc[teams["arm"] == arm, "team_id"]
        sizes = counts.reindex(ids, fill_value=0)
        assert (
            f"consumers per team: median {sizes.median():g} "
            f"(range {sizes.min()}-{sizes.max()})" in texts
        )
    assert "Teams assessed for eligibility and excluded:" in texts  # not in the example's data
    html = (folder / "reports" / "report.html").read_text()
    assert 'aria-label="CONSORT flow diagram' in html and "teams randomised</text>" in html
    # receipt as the participation section counts it: the teams that took part, and Table P1's
    # high participation class
    treated = design["arm_labels"][design["treatment_arms"][0]]
    took_part = re.search(rf"(\d+) of \d+ {treated} teams took part", html)
    high = re.search(r'<tr><td>high</td><td class="num">(\d+)</td>', html)
    assert f"{took_part[1]} teams took part (participation score above 0)" in texts
    assert f"{high[1]} teams with high participation (score at or above median)" in texts
    assert sum("took part" in t for t in texts) == 1  # none claimed for the reference arm


def test_report_has_banner_and_estimates(run):
    config, folder = run
    html = (folder / "reports" / "report.html").read_text()
    outcomes = pd.read_csv(folder / "reports" / "tables" / "outcomes.csv")
    assert "SYNTHETIC DATA" in html
    assert f"{outcomes.loc[0, 'estimate']:.2f}" in html
    assert "C0001" not in html  # no individual identifiers in reports


def test_report_opens_with_the_primary_result_before_any_table(run):
    config, folder = run
    html = (folder / "reports" / "report.html").read_text()
    outcomes = pd.read_csv(folder / "reports" / "tables" / "outcomes.csv")
    summary = pd.read_csv(folder / "reports" / "tables" / "outcome_summary.csv")
    primary = outcomes[outcomes["role"] == "primary"].iloc[0]
    p = "p < 0.001" if primary["p"] < 0.001 else f"p = {primary['p']:.3f}"
    stated = (
        f"adjusted difference {primary['estimate']:.2f} (95% CI {primary['ci_low']:.2f} to "
        f"{primary['ci_high']:.2f}; {p})"
    )
    assert -1 < html.find(stated) < html.find("<table")
    # the per-arm counts in the sentence add up to the individuals in the pooled analysis, and
    # those observed to the follow-up values in the analysis table
    rows = summary[summary["outcome"] == primary["outcome"]]
    assert rows["n_analysed"].sum() == primary["n_individuals"]
    assert rows["n_clusters"].sum() == primary["n_clusters"]
    table = pd.read_parquet(folder / "derived" / "scored" / "analysis_table.parquet")
    alive = table["followup_status"] != "died"
    assert rows["n_observed"].sum() == table.loc[alive, "qpr_total__followup"].notna().sum()
    for row in rows.itertuples():
        assert f"({row.n_observed} observed, {row.n_imputed} imputed)" in html


def section_html(html: str) -> dict[str, str]:
    """The report's HTML by section id, in report order (each from its heading to the next)."""
    starts = [(m.start(), m.group(1)) for m in re.finditer(r'<h2 id="([^"]+)"', html)]
    ends = [start for start, _ in starts[1:]] + [len(html)]
    return {name: html[start:end] for (start, name), end in zip(starts, ends, strict=True)}


def test_sections_follow_the_order_of_evidence(run):
    config, folder = run
    html = (folder / "reports" / "report.html").read_text()
    sections = section_html(html)
    order = list(sections)
    # randomised comparisons first, then robustness, clustering, the non-randomised analyses,
    # economics, process; the check against the truth last before provenance
    expected = ["outcomes", "sensitivity", "imputation", "clustering", "participation", "costs"]
    expected += ["audit", "consort", "reproduction", "provenance"]
    assert [name for name in order if name in expected] == expected
    assert order[-2:] == ["reproduction", "provenance"]
    # the randomised staff outcomes sit with the other outcomes, their participation rows (not
    # randomised) with participation
    staff = pd.read_csv(folder / "reports" / "tables" / "staff_outcomes.csv")
    for row in staff.itertuples():
        interval = f"{row.ci_low:.2f} to {row.ci_high:.2f}"
        home, away = ("outcomes", "participation")
        if row.analysis != "arm":
            home, away = away, home
        assert interval in sections[home], (row.label, row.analysis)
        assert interval not in sections[away], (row.label, row.analysis)
    assert "Table 2g" in sections["outcomes"]
    assert "<td>randomised arm effect</td>" not in sections["participation"]


def code_names_in_report(config: dict, html: str) -> set[str]:
    """Code names from the config (identifiers with underscores, analysis-table columns, model
    terms, df method codes) found in the report's text outside the provenance record, which
    names files and rules on purpose."""
    import re

    def identifiers(value, found):
        if isinstance(value, dict):
            for key, item in value.items():
                identifiers(key, found)
                identifiers(item, found)
        elif isinstance(value, list):
            for item in value:
                identifiers(item, found)
        elif isinstance(value, str) and re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)+", value):
            found.add(value)
        return found

    html = re.sub(r'src="data:[^"]+"', "", html)
    html = html[: html.index('<h2 id="provenance"')]
    text = re.sub(r"<[^>]+>", " ", html)
    codes = identifiers(config, set()) | {"kenward-roger", "between-within"}
    found = {c for c in codes if re.search(rf"(?<![\w/.-]){re.escape(c)}(?![\w.-])", text)}
    found |= set(re.findall(r"\b\w+__(?:baseline|followup)\b", text))
    return found | set(re.findall(r"\b\w+\[[^\]\s]+\]", text))


def test_report_names_nothing_by_its_code(run):
    config, folder = run
    html = (folder / "reports" / "report.html").read_text()
    assert code_names_in_report(config, html) == set()
    # the scan finds what it looks for
    assert code_names_in_report(
        config, html.replace("</h1>", " qpr_total__followup trust[2gether] kenward-roger</h1>")
    ) == {"qpr_total__followup", "trust[2gether]", "kenward-roger"}


def test_word_export_tables_equal_the_result_tables(run):
    docx = pytest.importorskip("docx")
    config, folder = run
    document = docx.Document(str(folder / "reports" / "report.docx"))
    baseline = pd.read_csv(
        folder / "reports" / "tables" / "baseline.csv", dtype=str, keep_default_na=False
    )
    table1, table2 = document.tables
    assert [c.text for c in table1.rows[0].cells] == list(baseline.columns)
    assert [[c.text for c in r.cells] for r in table1.rows[1:]] == baseline.to_numpy().tolist()
    outcomes = pd.read_csv(folder / "reports" / "tables" / "outcomes.csv")
    differences = [r.cells[7].text for r in table2.rows[1:] if r.cells[7].text != "reference"]
    assert differences == [
        f"{o.estimate:.2f} ({o.ci_low:.2f} to {o.ci_high:.2f})"
        + ("" if o.direction == "treatment_minus_reference" else f" ({o.contrast})")
        for o in outcomes.itertuples()
    ]
    provenance = json.loads((folder / "reports" / "provenance.json").read_text())
    assert provenance["config_sha256"] in document.sections[0].footer.paragraphs[0].text


def test_publication_tables_carry_the_result_numbers_and_the_run(run):
    config, folder = run
    provenance = json.loads((folder / "reports" / "provenance.json").read_text())
    published = folder / "reports" / "publication"
    outcomes = pd.read_csv(folder / "reports" / "tables" / "outcomes.csv")
    exported = pd.read_csv(published / "outcomes.csv")
    # full precision kept, display text beside it, the run named in every row
    pd.testing.assert_frame_equal(exported[outcomes.columns], outcomes)
    assert exported["estimate_ci_display"].tolist() == [
        f"{o.estimate:.2f} ({o.ci_low:.2f} to {o.ci_high:.2f})" for o in outcomes.itertuples()
    ]
    for name in ("table1_baseline", "table2_outcomes", "outcomes", "costs", "sensitivity", "icc"):
        frame = pd.read_csv(published / f"{name}.csv", dtype=str, keep_default_na=False)
        assert (frame["config_sha256"] == provenance["config_sha256"]).all(), name
        assert (frame["seed"] == str(provenance["seed"])).all(), name
    table2 = pd.read_csv(published / "table2_outcomes.csv").dropna(subset=["estimate"])
    merged = table2.merge(outcomes, on=["outcome", "arm"], suffixes=("", "_result"))
    assert len(merged) == len(outcomes)
    assert (merged["estimate"] == merged["estimate_result"]).all()


def test_cost_section_states_the_delivery_cost_and_suppresses_an_icer_over_zero(run):
    config, folder = run
    html = (folder / "reports" / "report.html").read_text()
    ce = pd.read_csv(folder / "reports" / "tables" / "cost_effectiveness.csv")
    effect = ce.set_index("quantity").loc["incremental_effect"]
    declared = config["costs"].get("intervention_cost")
    if declared:
        assert "Intervention delivery cost: " in html and f"({declared['basis']})." in html
    else:
        assert "Intervention delivery cost: none was declared in the config" in html
    icer = re.search(r"ICER \(GBP per point\)[^<]*</td><td class=\"num\">([^<]*)</td>", html)
    spans_zero = effect["ci_low"] <= 0 <= effect["ci_high"]
    assert icer[1] == (
        "not reported" if spans_zero else f"{ce.set_index('quantity').loc['icer', 'estimate']:.0f}"
    )


def test_pdf_report_is_a4_and_leaves_no_page_half_empty_between_sections(run):
    pypdf = pytest.importorskip("pypdf")
    from trial.report.pdf import A4_POINTS, MARGIN_TOP, MM, body_limits, page_layouts

    config, folder = run
    pdf = (folder / "reports" / "report.pdf").read_bytes()
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    provenance = json.loads((folder / "reports" / "provenance.json").read_text())
    assert provenance["config_sha256"] in reader.metadata.subject
    html = (folder / "reports" / "report.html").read_text()
    titles = [
        re.sub(r"<[^>]+>", "", t).strip() for t in re.findall(r'<h2 id="[^"]+">(.*?)</h2>', html)
    ]
    low = body_limits()[0]
    sizes = [(float(p.mediabox.width), float(p.mediabox.height)) for p in reader.pages]
    # A4 pages, portrait but for the wide tables' landscape pages
    for size in sizes:
        assert size == pytest.approx(A4_POINTS, abs=0.5) or size == pytest.approx(
            A4_POINTS[::-1], abs=0.5
        )
    landscape = [i for i, (w, h) in enumerate(sizes) if w > h]
    iv_pages = [i for i, page in enumerate(reader.pages) if "Table P4." in page.extract_text()]
    assert iv_pages and set(iv_pages) <= set(landscape)  # the wide IV table is on landscape
    assert 0 not in landscape and len(landscape) < len(sizes) / 2

    def middle(page: int) -> float:
        return (low + sizes[page][1] - MARGIN_TOP * MM) / 2

    layouts = page_layouts(pdf)
    starts = 0
    for page, (layout, following) in enumerate(zip(layouts, layouts[1:], strict=False)):
        assert provenance["config_sha256"] in reader.pages[page].extract_text()
        # a page followed by one that opens with a section heading is more than half full,
        # unless the orientation changes there
        if sizes[page] != sizes[page + 1]:
            continue
        if any(following.heading_height(t, min_size=10) == following.top for t in titles):
            starts += 1
            assert layout.bottom < middle(page), f"page {page + 1} is half empty"
    assert starts > 0  # some section did start a page, so the rule was exercised
    # the flow diagram is drawn (from its SVG file), not spilled as markup text
    text = "".join(page.extract_text() for page in reader.pages)
    assert "teams randomised" in text and "image/svg+xml" not in text
    # every section heading is in the PDF, each starting its page or following content that
    # ends in the upper half (else it would have started a page)
    for title in titles:
        (page,) = [
            i for i, p in enumerate(layouts) if p.heading_height(title, min_size=10) is not None
        ]
        before = layouts[page].bottom_above(layouts[page].heading_height(title, min_size=10))
        assert before is None or before > middle(page), title
    # last, so that the layout rules above are checked whenever the page count changes
    expected = json.loads((FIXTURES / "report_pdf.json").read_text())
    assert len(reader.pages) == expected["small_trial_pages"], (
        "page count of the small trial's PDF changed: check the layout by eye and update "
        "tests/workflow/fixtures/report_pdf.json"
    )


def test_every_figure_has_svg_and_pdf_beside_its_png_at_the_configured_dpi(run):
    pypdf = pytest.importorskip("pypdf")
    from PIL import Image

    config, folder = run
    pngs = sorted((folder / "reports" / "figures").glob("*.png"))
    assert len(pngs) >= 8
    for png in pngs:
        svg, pdf = png.with_suffix(".svg"), png.with_suffix(".pdf")
        assert "<text" in svg.read_text(encoding="utf-8"), svg.name
        (page,) = pypdf.PdfReader(io.BytesIO(pdf.read_bytes())).pages
        # the PNG's pixels are the PDF page's inches times the configured dpi
        inches = float(page.mediabox.width) / 72
        assert Image.open(png).size[0] == pytest.approx(inches * config["figures"]["dpi"], abs=1)


@pytest.mark.slow
def test_results_are_identical_with_one_or_two_cores(run, rerun):
    (_, first), (_, second) = run, rerun
    for name in (
        "tables/outcomes.csv",
        "tables/flow.csv",
        "tables/baseline.csv",
        "tables/outcome_summary.csv",
        "figures/forest.png",
        "figures/forest.svg",
        "figures/forest.pdf",
        "figures/consort_flow.svg",
    ):
        assert filecmp.cmp(first / "reports" / name, second / "reports" / name, shallow=False), name
    # so are the tables passed between rules (no time or path in a Parquet file)
    passed = sorted(p.relative_to(first) for p in (first / "derived").rglob("*.parquet"))
    assert len(passed) > 10
    assert passed == sorted(p.relative_to(second) for p in (second / "derived").rglob("*.parquet"))
    for name in passed:
        assert filecmp.cmp(first / name, second / name, shallow=False), name


def test_verify_passes_on_the_same_tables_and_fails_on_an_altered_expected_number(run, tmp_path):
    from trial.cli.verify import compare_results, write_expected

    tables = run[1] / "reports" / "tables"
    expected = tmp_path / "expected.json"
    write_expected(tables, expected)
    assert compare_results(tables, expected) == []
    payload = json.loads(expected.read_text())
    payload["tables"]["outcomes.csv"][0]["estimate"] += 0.01
    expected.write_text(json.dumps(payload))
    mismatches = compare_results(tables, expected)
    assert [(m.table, m.row, m.column) for m in mismatches] == [("outcomes.csv", 0, "estimate")]


@pytest.mark.slow
def test_verify_passes_on_a_rerun_in_another_job_order(run, rerun, tmp_path):
    from trial.cli.verify import compare_results, write_expected

    expected = tmp_path / "expected.json"
    write_expected(run[1] / "reports" / "tables", expected)
    assert compare_results(rerun[1] / "reports" / "tables", expected) == []
