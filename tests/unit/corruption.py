"""Tools of the corruption corpus: small copies of the bundled examples and ways to damage them.

Every corruption is a function ``(raw_folder, config) -> None`` that edits the copied raw files
or the copied config in place, made by one of the builders below, so that a case of the corpus
(``test_corruption_corpus.py``) is one line: what is done, and the exact problems expected.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

Corruption = Callable[[Path, dict], None]

#: Small frozen copies of the bundled examples that the corpus damages (``python -m
#: tests.unit.corruption`` remakes them): frozen so that regenerating an example does not
#: change the values its exact messages quote.
CORPUS_DATA = Path(__file__).resolve().parent / "corpus_data"
#: Clusters kept in each example's small copy (both arms).
CORPUS_CLUSTERS = {"refocus": 6, "trio": 9}


def subset_example(config: dict, source: Path, target: Path, n_clusters: int) -> None:
    """Copy an example's raw files keeping its first ``n_clusters`` clusters and their rows.

    A row is kept when every ID it links to (the config's ``references``) was kept; lines are
    copied verbatim, so the first lines of every file read as in the full example.
    """
    tables = config["tables"]
    kept: dict[str, set[str]] = {}
    while len(kept) < len(tables):
        for name, spec in tables.items():
            links = spec.get("references", {})
            if name in kept or any(t not in kept for t in links.values()):
                continue
            lines = (source / spec["file"]).read_text(encoding="utf-8").splitlines(keepends=True)
            header = next(csv.reader([lines[0]]))
            out, keys = [lines[0]], set()
            for line in lines[1:]:
                row = dict(zip(header, next(csv.reader([line])), strict=True))
                if name == config["design"]["cluster_table"] and len(out) > n_clusters:
                    break
                if all(row[column] in kept[t] for column, t in links.items()):
                    out.append(line)
                    keys.add(row[spec["key"][0]])
            kept[name] = keys
            (target / spec["file"]).write_text("".join(out), encoding="utf-8")


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines), encoding="utf-8")


def _quote(value: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([value])
    return out.getvalue()


def _set(text: str, position: int, value: str) -> str:
    """A CSV line with one field set verbatim (no quoting), the others quoted as needed."""
    fields = [_quote(f) for f in next(csv.reader([text]))]
    fields[position] = value
    return ",".join(fields)


def field(file: str, line: int, column: str, value: str) -> Corruption:
    """Set one field (by header name) on a line, writing ``value`` verbatim (no quoting)."""

    def corrupt(raw: Path, config: dict) -> None:
        lines = _lines(raw / file)
        header = next(csv.reader([lines[0]]))
        lines[line - 1] = _set(lines[line - 1], header.index(column), value)
        _write(raw / file, lines)

    return corrupt


def quoted(file: str, line: int, column: str, value: str) -> Corruption:
    """Set one field as a spreadsheet would save it: quoted when it holds a comma or quote."""

    def corrupt(raw: Path, config: dict) -> None:
        lines = _lines(raw / file)
        header = next(csv.reader([lines[0]]))
        lines[line - 1] = _set(lines[line - 1], header.index(column), _quote(value))
        _write(raw / file, lines)

    return corrupt


def every(file: str, column: str, change: Callable[[str], str]) -> Corruption:
    """Change one field of every data row, written verbatim."""

    def corrupt(raw: Path, config: dict) -> None:
        lines = _lines(raw / file)
        header = next(csv.reader([lines[0]]))
        j = header.index(column)
        for i in range(1, len(lines)):
            if lines[i]:
                lines[i] = _set(lines[i], j, change(next(csv.reader([lines[i]]))[j]))
        _write(raw / file, lines)

    return corrupt


def line(file: str, number: int, change: Callable[[str], str]) -> Corruption:
    """Change the text of one physical line (the header is line 1)."""

    def corrupt(raw: Path, config: dict) -> None:
        lines = _lines(raw / file)
        lines[number - 1] = change(lines[number - 1])
        _write(raw / file, lines)

    return corrupt


def insert(file: str, number: int, text: str) -> Corruption:
    """Insert a line of text so that it becomes line ``number``."""

    def corrupt(raw: Path, config: dict) -> None:
        lines = _lines(raw / file)
        lines.insert(number - 1, text)
        _write(raw / file, lines)

    return corrupt


def drop_rows(file: str, keep: Callable[[dict[str, str]], bool]) -> Corruption:
    """Delete every data row for which ``keep(row)`` is false (rows as dicts of text)."""

    def corrupt(raw: Path, config: dict) -> None:
        lines = _lines(raw / file)
        header = next(csv.reader([lines[0]]))
        out = [lines[0]]
        for text in lines[1:]:
            if not text or keep(dict(zip(header, next(csv.reader([text])), strict=True))):
                out.append(text)
        _write(raw / file, out)

    return corrupt


def text(file: str, change: Callable[[str], str]) -> Corruption:
    """Change the whole text of a file."""

    def corrupt(raw: Path, config: dict) -> None:
        path = raw / file
        path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")

    return corrupt


def data(file: str, change: Callable[[bytes], bytes]) -> Corruption:
    """Change the bytes of a file."""

    def corrupt(raw: Path, config: dict) -> None:
        path = raw / file
        path.write_bytes(change(path.read_bytes()))

    return corrupt


def replaced_by_folder(file: str) -> Corruption:
    """Put a folder where the file was."""

    def corrupt(raw: Path, config: dict) -> None:
        (raw / file).unlink()
        (raw / file).mkdir()

    return corrupt


def removed(file: str) -> Corruption:
    """Delete a file."""

    def corrupt(raw: Path, config: dict) -> None:
        (raw / file).unlink()

    return corrupt


def setting(path: str, value: Any) -> Corruption:
    """Set a config key, named by its path (``consistency/followup_data/tables``)."""

    def corrupt(raw: Path, config: dict) -> None:
        *parents, last = path.split("/")
        node = config
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value

    return corrupt


def both(*corruptions: Corruption) -> Corruption:
    """Apply several corruptions in turn."""

    def corrupt(raw: Path, config: dict) -> None:
        for each in corruptions:
            each(raw, config)

    return corrupt


def main() -> None:
    """Remake the corpus's frozen copies from the bundled examples."""
    from trial.config.load import load_config

    root = Path(__file__).resolve().parents[2]
    for name, clusters in CORPUS_CLUSTERS.items():
        config = load_config(root / "config" / f"{name}.yaml")
        target = CORPUS_DATA / name
        target.mkdir(parents=True, exist_ok=True)
        subset_example(config, root / config["paths"]["raw"], target, clusters)
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
