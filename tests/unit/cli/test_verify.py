"""The verify check: passes on identical results, names every altered number."""

import pandas as pd

from trial.cli.main import main
from trial.cli.verify import compare_results, write_expected


def make_tables(folder, estimate=0.68):
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            "outcome": ["primary", "secondary"],
            "estimate": [estimate, 6.96],
            "p": [0.58, 0.001],
            "method": ["kenward-roger"] * 2,
        }
    ).to_csv(folder / "outcomes.csv", index=False)
    pd.DataFrame({"stage": ["randomised"], "n": [27]}).to_csv(folder / "flow.csv", index=False)


def test_identical_results_pass(tmp_path):
    make_tables(tmp_path / "run")
    write_expected(tmp_path / "run", tmp_path / "expected.json")
    assert compare_results(tmp_path / "run", tmp_path / "expected.json") == []


def test_an_empty_table_is_recorded_as_empty_and_rows_appearing_in_it_are_found(tmp_path):
    """A complete-data run writes its imputation diagnostics as empty files: they verify as
    tables without rows, and a run whose table gains a row there is a mismatch."""
    make_tables(tmp_path / "a")
    (tmp_path / "a" / "imputation_check.csv").write_text("\n")
    write_expected(tmp_path / "a", tmp_path / "expected.json")
    assert compare_results(tmp_path / "a", tmp_path / "expected.json") == []
    make_tables(tmp_path / "b")
    pd.DataFrame({"outcome": ["primary"], "n": [3]}).to_csv(
        tmp_path / "b" / "imputation_check.csv", index=False
    )
    assert compare_results(tmp_path / "b", tmp_path / "expected.json") != []


def test_an_altered_number_is_reported_with_its_place(tmp_path):
    make_tables(tmp_path / "a")
    write_expected(tmp_path / "a", tmp_path / "expected.json")
    make_tables(tmp_path / "b", estimate=0.69)
    mismatches = compare_results(tmp_path / "b", tmp_path / "expected.json")
    assert [str(m) for m in mismatches] == [
        "outcomes.csv, row 1, column 'estimate': expected 0.68, found 0.69"
    ]


def test_differences_within_tolerance_pass_and_beyond_fail(tmp_path):
    make_tables(tmp_path / "a")
    write_expected(tmp_path / "a", tmp_path / "expected.json")  # rtol 1e-6
    make_tables(tmp_path / "b", estimate=0.68 * (1 + 1e-8))
    assert compare_results(tmp_path / "b", tmp_path / "expected.json") == []
    make_tables(tmp_path / "c", estimate=0.68 * (1 + 1e-5))
    assert len(compare_results(tmp_path / "c", tmp_path / "expected.json")) == 1


def test_missing_and_extra_tables_are_mismatches(tmp_path):
    make_tables(tmp_path / "a")
    write_expected(tmp_path / "a", tmp_path / "expected.json")
    (tmp_path / "a" / "flow.csv").rename(tmp_path / "a" / "other.csv")
    found = [str(m) for m in compare_results(tmp_path / "a", tmp_path / "expected.json")]
    assert "flow.csv: expected '1 rows', found 'no such table'" in found
    assert "other.csv: expected 'no such table', found '1 rows'" in found


def test_command_exits_non_zero_on_a_mismatch(tmp_path, config, capsys):
    import yaml

    reports = tmp_path / "reports"
    make_tables(reports / "tables")
    config["paths"].update(reports=str(reports), expected=str(tmp_path / "expected.json"))
    path = tmp_path / "trial.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["verify", str(path), "--update"]) == 0
    assert main(["verify", str(path)]) == 0
    make_tables(reports / "tables", estimate=1.5)
    assert main(["verify", str(path)]) == 1
    assert "column 'estimate': expected 0.68, found 1.5" in capsys.readouterr().out
