# Paths and helpers shared by every rule file.
RAW = config["paths"]["raw"]
DERIVED = config["paths"]["derived"]
REPORTS = config["paths"]["reports"]
IMPUTATIONS = list(range(1, config["imputation"]["m"] + 1))


def raw_inputs(wildcards=None):
    """Every raw file the config declares."""
    return [f"{RAW}/{spec['file']}" for spec in config["tables"].values()]


def per_imputation(pattern):
    """One path per imputation, for rules that gather them all."""
    return [pattern.format(i=i) for i in IMPUTATIONS]


def truth_file(wildcards=None):
    """The generating values of a synthetic example, when present."""
    path = f"{RAW}/truth.json"
    return [path] if config["trial"]["synthetic"] and os.path.exists(path) else []


# Inputs of the report, by name; each stage's rule file adds the result files its report
# section reads (see trial.report.SECTION_BUILDERS).
REPORT_INPUTS = {"raw": raw_inputs()}


def report_inputs(wildcards):
    """Every file the report reads."""
    return {**REPORT_INPUTS, "truth": truth_file()}
