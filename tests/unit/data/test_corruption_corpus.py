"""The corruption corpus: realistic damage to the bundled examples, each with its exact message.

A case is one entry of ``CASES``: a category, what was done to a small frozen copy of an example
(its first clusters and their rows, lines copied verbatim, committed in ``corpus_data/``) or to
its config, and the exact problems
expected, in order, each naming the file (or the config key), line, column and value. ``()``
means the input is legitimate and must be accepted. A case with ``count`` expects that many
problems, of which ``expected`` lists some. Every new bug found in reading inputs becomes a
case here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import pytest

from trial.config.load import ConfigError, load_config, validate_config
from trial.data.validation import InputError, read_table, validate_inputs

from ...conftest import ROOT
from ..corruption import (
    CORPUS_DATA,
    Corruption,
    both,
    data,
    drop_rows,
    every,
    field,
    insert,
    line,
    quoted,
    removed,
    replaced_by_folder,
    setting,
    text,
)


@dataclass(frozen=True)
class Case:
    category: str
    name: str
    corrupt: Corruption | None
    expected: tuple[str, ...]
    count: int | None = None  # how many problems, when ``expected`` lists only some
    example: str = "refocus"
    yaml_text: tuple[str, str] | None = None  # (old, new) replaced in the config file's text
    unreadable: str | None = None  # a file that reading is refused (permission denied)


FIELDS_3 = "expected 3 fields as in the header, found 4: a stray comma, or text with a comma "
QPR = "consumer_measures.csv"
SOURCE = "Assumed, of the magnitude of PSSRU Unit Costs of Health and Social Care 2012"
MISSING_HINT = "or an empty cell for a missing value"

# fmt: off
CASES = [
    # -- spreadsheet exports ------------------------------------------------------------------
    Case("excel", "semicolon-separated (a European spreadsheet)", text("teams.csv", lambda t: t.replace(",", ";")), (
        "teams.csv, line 1: value 'team_id;trust;arm'; expected comma-separated columns; the file seems to use another delimiter",)),
    Case("excel", "tab-separated text", text("teams.csv", lambda t: t.replace(",", "\t")), (
        "teams.csv, line 1: value 'team_id\\ttrust\\tarm'; expected comma-separated columns; the file seems to use another delimiter",)),
    Case("excel", "saved as UTF-16 'Unicode text'", data("teams.csv", lambda b: b.decode().encode("utf-16")), (
        "teams.csv, line 1; expected UTF-8 text; the file is UTF-16 (save it as CSV UTF-8)",)),
    Case("excel", "saved in a Windows code page", data("staff.csv", lambda b: b.replace(b"nurse", b"nurs\xe9", 1)), (
        "staff.csv, line 2: value 'S0001,T01,nurs\\\\xe9'; expected UTF-8 text (save the file as UTF-8 CSV)",)),
    Case("excel", "empty columns a spreadsheet kept", text("teams.csv", lambda t: t.replace("\n", ",,\n")), (
        "teams.csv, line 1: value ''; expected a name for every column; field 4 of the header is empty (a spreadsheet exports columns that once held formatting: delete it)",
        "teams.csv, line 1: value ''; expected a name for every column; field 5 of the header is empty (a spreadsheet exports columns that once held formatting: delete it)")),
    Case("excel", "empty rows a spreadsheet kept", text("teams.csv", lambda t: t + ",,\n,,\n"), (
        "teams.csv, line 8: value ',,'; expected a data row; this row is empty (delete it)",
        "teams.csv, line 9: value ',,'; expected a data row; this row is empty (delete it)")),
    Case("excel", "quoted thousands separator", quoted("unit_costs.csv", 2, "unit_cost", "1,062"), (
        "unit_costs.csv, line 2, column 'unit_cost': value '1,062'; expected a number without a comma: 1062 if the comma separates thousands, 1.062 if it is a decimal comma",)),
    Case("excel", "quoted decimal comma", quoted("participation.csv", 2, "attendance", "0,946"), (
        "participation.csv, line 2, column 'attendance': value '0,946'; expected a number with a decimal point, not a decimal comma (0.946)",)),
    Case("excel", "spreadsheet error value", field("consumers.csv", 2, "age", "#VALUE!"), (
        "consumers.csv, line 2, column 'age': value '#VALUE!'; expected a whole number (#VALUE! is a spreadsheet error value)",)),
    Case("excel", "#N/A from a lookup", field("unit_costs.csv", 3, "unit_cost", "#N/A"), (
        "unit_costs.csv, line 3, column 'unit_cost': value '#N/A'; expected a number (#N/A is a spreadsheet error value)",)),
    Case("excel", "percentage format", field("participation.csv", 3, "attendance", "48%"), (
        "participation.csv, line 3, column 'attendance': value '48%'; expected a number without a % sign",)),
    Case("excel", "TRUE for 1 in a 0/1 item", field("casenote_audit.csv", 2, "actions_documented", "TRUE"), (
        "casenote_audit.csv, line 2, column 'actions_documented': value 'TRUE'; expected a whole number",)),
    Case("excel", "space after a header name", line("teams.csv", 1, lambda t: t.replace("team_id", "team_id ")), (
        "teams.csv, line 1, column 'team_id '; expected the column name 'team_id' without spaces around it",)),
    Case("excel", "header retyped in another case", line("teams.csv", 1, lambda t: t.replace("team_id", "Team_ID")), (
        "teams.csv, line 1, column 'team_id'; expected this column in the header",
        "teams.csv, line 1, column 'Team_ID'; expected only declared columns; this one is not in the config (did you mean 'team_id'? names are case-sensitive)")),
    Case("excel", "a column pasted twice", text("teams.csv", lambda t: t.replace("\n", ",x\n").replace("arm,x", "arm,arm")), (
        "teams.csv, line 1, column 'arm'; expected each column once in the header; it appears 2 times",)),
    Case("excel", "dates as day/month/year", both(
        setting("tables/teams/columns/randomised", {"type": "date", "description": "date randomised"}),
        text("teams.csv", lambda t: t.replace("arm\n", "arm,randomised\n").replace("control\n", "control,2011-04-01\n").replace("refocus\n", "refocus,01/04/2011\n"))), (
        "teams.csv, line 5, column 'randomised': value '01/04/2011'; expected a date YYYY-MM-DD",
        "teams.csv, line 6, column 'randomised': value '01/04/2011'; expected a date YYYY-MM-DD",
        "teams.csv, line 7, column 'randomised': value '01/04/2011'; expected a date YYYY-MM-DD")),
    # -- stray commas -------------------------------------------------------------------------
    Case("stray comma", "trailing comma on the first data row", line("teams.csv", 2, lambda t: t + ","), (
        f"teams.csv, line 2: value 'T01,SLaM,control,'; {FIELDS_3}that is not in quotes",)),
    Case("stray comma", "trailing comma on the first row of a wide table", line("consumers.csv", 2, lambda t: t + ","), (
        "consumers.csv, line 2: value 'C0001,T01,42,male,white,other_psychosis,completed,'; expected 7 fields as in the header, found 8: a stray comma, or text with a comma that is not in quotes",)),
    Case("stray comma", "extra field in a later row", line("teams.csv", 5, lambda t: t + ",extra"), (
        f"teams.csv, line 5: value 'T04,2gether,refocus,extra'; {FIELDS_3}that is not in quotes",)),
    Case("stray comma", "doubled comma", line("consumers.csv", 3, lambda t: t.replace(",40,", ",,40,")), (
        "consumers.csv, line 3: value 'C0002,T01,,40,male,white,schizophrenia,completed'; expected 7 fields as in the header, found 8: a stray comma, or text with a comma that is not in quotes",)),
    Case("stray comma", "unquoted thousands separator", field("unit_costs.csv", 2, "unit_cost", "1,062"), (
        "unit_costs.csv, line 2, column 'unit_cost': value '1,062'; expected a number without a comma: 1062 if the comma separates thousands, 1.062 if it is a decimal comma; unquoted, its comma splits the row into 7 fields where the header has 6",)),
    Case("stray comma", "unquoted thousands separators in two columns", both(
        field("consumers.csv", 2, "age", "1,042"), field("consumers.csv", 3, "age", "40"), field("service_use.csv", 2, "quantity", "1,022")), (
        "consumers.csv, line 2, column 'age': value '1,042'; expected a whole number without a comma: 1042 if the comma separates thousands, 1.042 if it is a decimal comma; unquoted, its comma splits the row into 8 fields where the header has 7",
        "service_use.csv, line 2, column 'quantity': value '1,022'; expected a whole number without a comma: 1022 if the comma separates thousands, 1.022 if it is a decimal comma; unquoted, its comma splits the row into 5 fields where the header has 4")),
    Case("stray comma", "decimal commas in every row", every("participation.csv", "attendance", lambda v: "0,625"), (
        "participation.csv, line 2, column 'attendance': value '0,625'; expected a number with a decimal point, not a decimal comma (0.625); unquoted, its comma splits the row into 4 fields where the header has 3",
        "participation.csv, line 13, column 'attendance': value '0,625'; expected a number with a decimal point, not a decimal comma (0.625); unquoted, its comma splits the row into 4 fields where the header has 3"), count=12),
    Case("stray comma", "text with an unquoted comma", field("unit_costs.csv", 2, "source", SOURCE), (
        "unit_costs.csv, line 2: value 'inpatient_day,inpatient,bed-day,330,2012,Assumed, of the ...'; expected 6 fields as in the header, found 7: a stray comma, or text with a comma that is not in quotes",)),
    Case("stray comma", "comma lost between two fields", line("consumers.csv", 3, lambda t: t.replace(",40,", ",40 ")), (
        "consumers.csv, line 3: value 'C0002,T01,40 male,white,schizophrenia,completed'; expected 7 fields as in the header, found 6: a truncated line, or a missing field",)),
    Case("stray comma", "trailing comma on the header", line("teams.csv", 1, lambda t: t + ","), (
        "teams.csv, line 1: value ''; expected a name for every column; field 4 of the header is empty (a spreadsheet exports columns that once held formatting: delete it)",)),
    # -- sentinels for missing values --------------------------------------------------------
    Case("sentinel", "-99 for a missing age", field("consumers.csv", 2, "age", "-99"), (
        "consumers.csv, line 2, column 'age': value -99; expected at least 18",)),
    Case("sentinel", "999 for a missing age", field("consumers.csv", 2, "age", "999"), (
        "consumers.csv, line 2, column 'age': value 999; expected at most 65",)),
    Case("sentinel", "NA for a missing age", field("consumers.csv", 2, "age", "NA"), (
        f"consumers.csv, line 2, column 'age': value 'NA'; expected a whole number, {MISSING_HINT} ('NA' is not read as missing)",)),
    Case("sentinel", "NaN for a missing unit cost", field("unit_costs.csv", 4, "unit_cost", "NaN"), (
        f"unit_costs.csv, line 4, column 'unit_cost': value 'NaN'; expected a number, {MISSING_HINT} ('NaN' is not read as missing)",)),
    Case("sentinel", "N/A for a missing quantity", field("service_use.csv", 2, "quantity", "N/A"), (
        f"service_use.csv, line 2, column 'quantity': value 'N/A'; expected a whole number, {MISSING_HINT} ('N/A' is not read as missing)",)),
    Case("sentinel", ". for a missing item", field(QPR, 2, "qpr_01", "."), (
        f"consumer_measures.csv, line 2, column 'qpr_01': value '.'; expected a whole number, {MISSING_HINT} ('.' is not read as missing)",)),
    Case("sentinel", "9 for a missing 0-4 item", field(QPR, 2, "qpr_01", "9"), (
        "consumer_measures.csv, line 2, column 'qpr_01': value 9; expected at most 4",)),
    Case("sentinel", "-1 for a missing 0/1 item", field("casenote_audit.csv", 2, "values_documented", "-1"), (
        "casenote_audit.csv, line 2, column 'values_documented': value -1; expected at least 0",)),
    Case("sentinel", "? for a missing category", field("consumers.csv", 2, "gender", "?"), (
        "consumers.csv, line 2, column 'gender': value '?'; expected one of ['female', 'male']",)),
    Case("sentinel", "missing as a follow-up status", field("consumers.csv", 2, "followup_status", "missing"), (
        "consumers.csv, line 2, column 'followup_status': value 'missing'; expected one of ['completed', 'withdrew', 'lost_to_contact', 'moved_away', 'too_unwell', 'died']",)),
    Case("sentinel", "NULL for a missing link", field("consumers.csv", 2, "team_id", "NULL"), (
        "consumers.csv, line 2, column 'team_id': value 'NULL'; expected a team_id listed in teams.csv",)),
    Case("sentinel", "inf as a unit cost", field("unit_costs.csv", 2, "unit_cost", "inf"), (
        "unit_costs.csv, line 2, column 'unit_cost': value 'inf'; expected a number (a finite one)",)),
    Case("sentinel", "1e309 as a unit cost", field("unit_costs.csv", 2, "unit_cost", "1e309"), (
        "unit_costs.csv, line 2, column 'unit_cost': value '1e309'; expected a number (a finite one)",)),
    # -- truncated or repeated transfers -----------------------------------------------------
    Case("truncated", "last line cut short", data("consumers.csv", lambda b: b[:-30]), (
        "consumers.csv, line 82: value 'C0081,T06,20,female,'; expected 7 fields as in the header, found 5: a truncated line, or a missing field; the file ends without a line break, so its last line may be cut short",)),
    Case("truncated", "last field of the last line lost", data("consumers.csv", lambda b: b[: b.rstrip(b"\n").rfind(b",")] + b"\n"), (
        "consumers.csv, line 82: value 'C0081,T06,20,female,white,schizophrenia'; expected 7 fields as in the header, found 6: a truncated line, or a missing field",)),
    Case("truncated", "row missing its last field", line("consumers.csv", 3, lambda t: t.rsplit(",", 1)[0]), (
        "consumers.csv, line 3: value 'C0002,T01,40,male,white,schizophrenia'; expected 7 fields as in the header, found 6: a truncated line, or a missing field",)),
    Case("truncated", "cut inside a quoted field", data("unit_costs.csv", lambda b: b[:-40]), (
        "unit_costs.csv, line 7; expected a closing quote: the file ends inside a quoted field (a truncated file, or a stray quote)",)),
    Case("truncated", "cut inside a character", data("unit_costs.csv", lambda b: b.replace(b"2012\"\n", "2012 \u00e9\"\n".encode()).rstrip(b"\n")[:-2]), (
        "unit_costs.csv, line 7: value 'f Health and Social Care 2012 \\\\xc3'; expected UTF-8 text (save the file as UTF-8 CSV)",)),
    Case("truncated", "only the header arrived", data("teams.csv", lambda b: b.split(b"\n")[0] + b"\n"), (
        "teams.csv; expected at least one data row",)),
    Case("truncated", "an empty file", data("unit_costs.csv", lambda b: b""), (
        "unit_costs.csv; expected a header line and data rows; the file is empty",)),
    Case("truncated", "zeros at the end of a failed copy", data("teams.csv", lambda b: b + b"\x00" * 64), (
        "teams.csv, line 8; expected text without NUL bytes (a damaged transfer, or a file saved as UTF-16: save it as CSV UTF-8)",)),
    Case("truncated", "rows sent twice", text("teams.csv", lambda t: t + "\n".join(t.split("\n")[1:3]) + "\n"), (
        "teams.csv, line 8, column 'team_id': value 'T01'; expected a unique team_id (this one is also on line 2)",
        "teams.csv, line 9, column 'team_id': value 'T02'; expected a unique team_id (this one is also on line 3)")),
    Case("truncated", "a file that never arrived", removed("staff.csv"), (
        "staff.csv; expected the file {raw}/staff.csv to exist (table 'staff')",)),
    Case("truncated", "a folder where the file should be", replaced_by_folder("staff.csv"), (
        "staff.csv; expected a file; {raw}/staff.csv is a folder",)),
    Case("truncated", "questionnaires cut at a line boundary", data(QPR, lambda b: b[: b.index(b"\nC0041,")] + b"\n"), (
        "consumers.csv, line 43, column 'followup_status': value 'completed'; expected follow-up data for consumer_id 'C0042' at timepoint '12m' in consumer_measures.csv (none found), or a reason for loss",), count=35),
    # -- records that contradict each other --------------------------------------------------
    Case("inconsistent", "completed, with no follow-up questionnaire", drop_rows(QPR, lambda r: (r["consumer_id"], r["timepoint"]) != ("C0001", "12m")), (
        "consumers.csv, line 2, column 'followup_status': value 'completed'; expected follow-up data for consumer_id 'C0001' at timepoint '12m' in consumer_measures.csv (none found), or a reason for loss",)),
    Case("inconsistent", "completed, follow-up row with every item blank", line(QPR, 3, lambda t: ",".join(t.split(",")[:2] + [""] * (len(t.split(",")) - 2))), (
        "consumers.csv, line 2, column 'followup_status': value 'completed'; expected follow-up data for consumer_id 'C0001' at timepoint '12m' in consumer_measures.csv (none found), or a reason for loss",)),
    Case("inconsistent", "lost to contact, with a follow-up questionnaire", field("consumers.csv", 2, "followup_status", "lost_to_contact"), (
        "consumers.csv, line 2, column 'followup_status': value 'lost_to_contact'; expected 'completed', since consumer_measures.csv, line 3 holds follow-up data for consumer_id 'C0001'",)),
    Case("inconsistent", "declined, with a follow-up questionnaire", field("patients.csv", 2, "week26_status", "declined"), (
        "patients.csv, line 2, column 'week26_status': value 'declined'; expected 'seen', since questionnaires.csv, line 3 holds follow-up data for patient_id 'PT00001'",), example="trio"),
    Case("inconsistent", "one arm's follow-up deleted, status still completed", drop_rows(QPR, lambda r: not (r["timepoint"] == "12m" and int(r["consumer_id"][1:]) >= 37)), (
        "consumers.csv, line 38, column 'followup_status': value 'completed'; expected follow-up data for consumer_id 'C0037' at timepoint '12m' in consumer_measures.csv (none found), or a reason for loss",
        "teams.csv, column 'arm': value 'refocus'; expected an observed follow-up score of 'qpr_total' (the primary outcome), 'qpr_intrapersonal', 'qpr_interpersonal', 'inspire_support', 'inspire_relationship', 'hope' and 'wellbeing' for at least one consumer of every arm; consumer_measures.csv has none at timepoint '12m'"), count=39),
    Case("inconsistent", "one arm's follow-up deleted, missing follow-up allowed", both(
        setting("consistency/followup_data/completed_without_data", "allowed"),
        drop_rows(QPR, lambda r: not (r["timepoint"] == "12m" and int(r["consumer_id"][1:]) >= 37))), (
        "teams.csv, column 'arm': value 'refocus'; expected an observed follow-up score of 'qpr_total' (the primary outcome), 'qpr_intrapersonal', 'qpr_interpersonal', 'inspire_support', 'inspire_relationship', 'hope' and 'wellbeing' for at least one consumer of every arm; consumer_measures.csv has none at timepoint '12m'",)),
    Case("inconsistent", "an audited individual in two teams", field("casenote_audit.csv", 3, "team_id", "T05"), (
        "casenote_audit.csv, line 3, column 'team_id': value 'T05'; expected 'T03' as on line 2 of casenote_audit.csv (audit_id 'A0003' belongs to one team)",)),
    Case("inconsistent", "audit record unavailable but scored", field("casenote_audit.csv", 2, "record_available", "no"), (
        "casenote_audit.csv, line 2, column 'record_available': value 'no'; expected 'yes' when items are scored (values_documented = 0)",)),
    Case("inconsistent", "audit record available with nothing scored", field("casenote_audit.csv", 8, "record_available", "yes"), (
        "casenote_audit.csv, line 8, column 'record_available': value 'yes'; expected at least one of ['values_documented', 'strengths_documented', 'goals_documented', 'actions_documented'] scored when the record is available, or the code of a record that could not be audited",)),
    Case("inconsistent", "blank unit cost of a service used", field("unit_costs.csv", 4, "unit_cost", ""), (
        "unit_costs.csv, line 4, column 'unit_cost': value ''; expected a unit cost for 'psychiatrist_contact', which 144 rows of service_use.csv use (or set costs/missing_unit_cost: zero to cost it at 0)",)),
    Case("inconsistent", "blank quantity of a service used", field("service_use.csv", 2, "quantity", ""), (
        "service_use.csv, line 2, column 'quantity': value ''; expected a value (this column may not be blank)",)),
    Case("inconsistent", "a consumer in a team that does not exist", field("consumers.csv", 2, "team_id", "T99"), (
        "consumers.csv, line 2, column 'team_id': value 'T99'; expected a team_id listed in teams.csv",)),
    Case("inconsistent", "a consumer listed twice", text("consumers.csv", lambda t: t + t.split("\n")[1].replace(",42,", ",43,") + "\n"), (
        "consumers.csv, line 83, column 'consumer_id': value 'C0001'; expected a unique consumer_id (this one is also on line 2)",)),
    Case("inconsistent", "participation of a control team", text("participation.csv", lambda t: t + "T01,workshop,0.5\n"), (
        "participation.csv, line 14, column 'team_id': value 'T01'; expected only 'refocus' clusters in the participation table",)),
    Case("inconsistent", "an arm left with one cluster", both(
        field("teams.csv", 2, "arm", "refocus"), field("teams.csv", 3, "arm", "refocus")), (
        "teams.csv, column 'arm': value 'control'; expected at least 2 clusters in every arm; found 1",)),
    # -- cases whose message used to point at the wrong place --------------------------------
    Case("misleading", "trailing space in a key", field("teams.csv", 2, "team_id", "T01 "), (
        "teams.csv, line 2, column 'team_id': value 'T01 '; expected an ID without spaces at either end",)),
    Case("misleading", "trailing space in a link", field("consumers.csv", 2, "team_id", "T01 "), (
        "consumers.csv, line 2, column 'team_id': value 'T01 '; expected an ID without spaces at either end",)),
    Case("misleading", "space around a category code", field("consumers.csv", 2, "gender", " male"), (
        "consumers.csv, line 2, column 'gender': value ' male'; expected 'male' without the spaces around it",)),
    Case("misleading", "line numbers count blank lines", both(insert("consumers.csv", 3, ""), field("consumers.csv", 5, "age", "forty")), (
        "consumers.csv, line 5, column 'age': value 'forty'; expected a whole number",)),
    Case("misleading", "line numbers count lines inside quotes", both(
        quoted("unit_costs.csv", 2, "source", "PSSRU 2012,\nvolume 1"), field("unit_costs.csv", 5, "unit_cost", "cheap")), (
        "unit_costs.csv, line 5, column 'unit_cost': value 'cheap'; expected a number",)),
    Case("misleading", "a file this account may not read", None, (
        "staff.csv; expected a file this account may read; reading {raw}/staff.csv was refused (permission denied)",), unreadable="staff.csv"),
    # -- the config file ---------------------------------------------------------------------
    Case("config", "a key given twice", None, (
        "line 19, column 1: key 'seed' is given a second time (first on line 18); YAML would silently keep only the last value",), yaml_text=("seed: 20110401\n", "seed: 20110401\nseed: 1\n")),
    Case("config", "a YAML syntax error", None, (
        "line 8, column 6: not valid YAML: while parsing a flow sequence expected ',' or ']', but got ':'",), yaml_text=("\ntrial:\n", "\noops: [1, 2\ntrial:\n")),
    Case("config", "a tab for indentation", None, (
        "line 14, column 1: not valid YAML: while scanning for the next token found character '\\t' that cannot start any token (indent with spaces; YAML does not allow tabs)",), yaml_text=("  synthetic: true ", "\tsynthetic: true ")),
    Case("config", "a misspelt key", None, (
        "(top level): 'seed' is a required property",
        "(top level): Additional properties are not allowed ('seeds' was unexpected) (check the spelling against the documented keys)"), yaml_text=("\nseed:", "\nseeds:")),
    Case("config", "a stratum declared as a number", setting("tables/teams/columns/trust", {"type": "integer", "description": "trust number"}), (
        "design/strata: 'trust' is declared type integer; a randomisation stratum must be type category with its codes listed as text (e.g. values: [\"1\", \"2\", \"3\"]), so that every stratum has its own term in the models",)),
    Case("config", "a consistency rule naming no table", setting("consistency/followup_data/tables", ["questionaires"]), (
        "consistency/followup_data/tables/0: table 'questionaires' is not declared under tables",)),
    Case("config", "a consistency rule of unknown strength", setting("consistency/followup_data/lost_with_data", "warn"), (
        "consistency/followup_data/lost_with_data: 'warn' is not one of ['error', 'allowed']",)),
    Case("config", "a missing unit cost policy misspelt", setting("costs/missing_unit_cost", "0"), (
        "costs/missing_unit_cost: '0' is not one of ['error', 'zero']",)),
    # -- legitimate inputs, accepted -----------------------------------------------------------
    Case("legitimate", "3.0 in an integer item", field(QPR, 2, "qpr_01", "3.0"), ()),
    Case("legitimate", "spaces around a number", field("consumers.csv", 2, "age", " 42 "), ()),
    Case("legitimate", "byte-order mark and CRLF line ends", data("teams.csv", lambda b: b"\xef\xbb\xbf" + b.replace(b"\n", b"\r\n")), ()),
    Case("legitimate", "every field quoted", text("teams.csv", lambda t: "\n".join(",".join(f'"{v}"' for v in r.split(",")) if r else r for r in t.split("\n"))), ()),
    Case("legitimate", "scientific notation of a whole number", field("service_use.csv", 2, "quantity", "2.2E+01"), ()),
    Case("legitimate", "non-breaking space after a number", field("consumers.csv", 2, "age", "42\u00a0"), ()),
    Case("legitimate", "blank lines between rows", insert("consumers.csv", 3, ""), ()),
    Case("legitimate", "blank unit cost of a service nobody used", text("unit_costs.csv", lambda t: t + "ambulance,crisis,journey,,2012,assumed\n"), ()),
    Case("legitimate", "blank unit cost costed at zero, as the config says", both(
        setting("costs/missing_unit_cost", "zero"), field("unit_costs.csv", 4, "unit_cost", "")), ()),
    Case("legitimate", "seen at follow-up without a questionnaire, as the config allows", drop_rows(
        "questionnaires.csv", lambda r: (r["patient_id"], r["visit"]) != ("PT00001", "week26")), (), example="trio"),
]
# fmt: on


@pytest.fixture(scope="session")
def examples():
    """Each example's config and the frozen small copy of its raw files (never changed)."""
    made = {}
    for name in ("refocus", "trio"):
        config = load_config(ROOT / "config" / f"{name}.yaml")
        made[name] = (config, CORPUS_DATA / name)
    return made


def run_case(case: Case, examples, tmp_path, monkeypatch) -> tuple[list[str], dict, Path]:
    """The problems found in the corrupted copy (config problems, else input problems)."""
    example, source = examples[case.example]
    raw = tmp_path / "raw"
    raw.mkdir()
    for path in source.iterdir():
        (raw / path.name).write_bytes(path.read_bytes())
    config = copy.deepcopy(example)
    config["paths"] = {**config["paths"], "raw": str(raw)}
    if case.corrupt:
        case.corrupt(raw, config)
    if case.unreadable:
        real = Path.read_bytes

        def refuse(path: Path) -> bytes:
            if path.name == case.unreadable:
                raise PermissionError(13, "Permission denied", str(path))
            return real(path)

        monkeypatch.setattr(Path, "read_bytes", refuse)
    try:
        if case.yaml_text:  # the config file itself, read as `trial validate` reads it
            old, new = case.yaml_text
            original = (ROOT / "config" / f"{case.example}.yaml").read_text(encoding="utf-8")
            assert old in original
            (tmp_path / "trial.yaml").write_text(original.replace(old, new, 1), encoding="utf-8")
            loaded = load_config(tmp_path / "trial.yaml")
        else:
            validate_config(config)
            loaded = config
    except ConfigError as error:
        return error.problems, config, raw
    loaded["paths"] = config["paths"]
    try:
        validate_inputs(loaded)
    except InputError as error:
        return [str(p) for p in error.problems], config, raw
    return [], config, raw


@pytest.mark.parametrize("case", CASES, ids=[f"{c.category}: {c.name}" for c in CASES])
def test_corruption_is_stopped_with_its_exact_message(case, examples, tmp_path, monkeypatch):
    found, _, raw = run_case(case, examples, tmp_path, monkeypatch)
    expected = [e.replace("{raw}", str(raw)) for e in case.expected]
    if case.count is None:
        assert found == expected
    else:
        assert len(found) == case.count, found
        for message in expected:
            assert message in found


def test_the_corpus_covers_every_category_of_the_issue():
    categories = {c.category for c in CASES}
    assert categories == {
        "excel", "stray comma", "sentinel", "truncated", "inconsistent", "misleading",
        "config", "legitimate",
    }  # fmt: skip
    assert len(CASES) >= 60
    assert len({(c.category, c.name) for c in CASES}) == len(CASES)


@pytest.mark.parametrize(
    "case, table, column, value",
    [
        ("3.0 in an integer item", "consumer_measures", "qpr_01", 3),
        ("spaces around a number", "consumers", "age", 42),
        ("scientific notation of a whole number", "service_use", "quantity", 22),
        ("non-breaking space after a number", "consumers", "age", 42),
    ],
)
def test_accepted_values_are_read_as_the_number_written(
    case, table, column, value, examples, tmp_path, monkeypatch
):
    chosen = next(c for c in CASES if c.name == case)
    found, config, raw = run_case(chosen, examples, tmp_path, monkeypatch)
    assert found == []
    read = read_table(config, table, raw)
    assert read[column].iloc[0] == value and str(read[column].dtype) == "Int64"
