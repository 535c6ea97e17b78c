# Reference values for the random-intercept mixed-model engine (src/trial/stats/mixed/).
#
# Reads the committed CSVs in tests/reference/data/mixed/, fits each model with lme4/lmerTest
# (REML and ML) and pbkrtest, and writes long-format CSV fixtures to
# tests/reference/fixtures/mixed/<dataset>.csv with columns
#   dataset, fit, quantity, term, value
# Every fixture starts with '#' comment lines recording the R and package versions.
#
# Run from the repository root:  Rscript tests/reference/r/mixed_models.R
# The script also exports MASS::nlschools to tests/reference/data/mixed/nlschools.csv.
# Datasets: refocus, boundary, unbalanced, nested (tests/reference/data/mixed/make_data.py),
# nlschools (MASS), refocus_example (export_refocus_example.py: the bundled example's primary
# model), nested_large (make_nested_large.py: audit-sized nested model, no Kenward-Roger),
# trio_example (export_trio_example.py: the three-arm example's primary model).

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
  library(MASS)
})

data_dir <- file.path("tests", "reference", "data", "mixed")
out_dir <- file.path("tests", "reference", "fixtures", "mixed")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

versions <- c(
  R = R.version.string,
  lme4 = as.character(packageVersion("lme4")),
  lmerTest = as.character(packageVersion("lmerTest")),
  pbkrtest = as.character(packageVersion("pbkrtest")),
  Matrix = as.character(packageVersion("Matrix")),
  numDeriv = as.character(packageVersion("numDeriv")),
  MASS = as.character(packageVersion("MASS"))
)

# Tight optimiser tolerances so that the reference optimum is accurate to well below the
# tolerances the Python tests use.
ctrl <- lmerControl(
  optimizer = "nloptwrap",
  optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-15, xtol_rel = 1e-12, ftol_rel = 1e-15,
                 maxeval = 100000),
  check.conv.singular = "ignore"
)

rows <- list()
add <- function(dataset, fit, quantity, term, value) {
  rows[[length(rows) + 1L]] <<- data.frame(
    dataset = dataset, fit = fit, quantity = quantity, term = term,
    value = sprintf("%.17g", as.numeric(value)), stringsAsFactors = FALSE
  )
}

variance_components <- function(m) {
  vc <- as.data.frame(VarCorr(m))
  out <- setNames(vc$vcov, vc$grp)
  out
}

record_fit <- function(dataset, fit_label, m, ftests, kr = TRUE) {
  terms <- names(fixef(m))
  is_reml <- isREML(m) && kr
  add(dataset, fit_label, "estimate", terms, fixef(m))
  add(dataset, fit_label, "se", terms, sqrt(diag(as.matrix(vcov(m)))))
  sat <- summary(m, ddf = "Satterthwaite")$coefficients
  add(dataset, fit_label, "df_satterthwaite", terms, sat[, "df"])
  add(dataset, fit_label, "t_satterthwaite", terms, sat[, "t value"])
  add(dataset, fit_label, "p_satterthwaite", terms, sat[, "Pr(>|t|)"])
  if (is_reml) {
    kr <- summary(m, ddf = "Kenward-Roger")$coefficients
    add(dataset, fit_label, "se_kenward_roger", terms, kr[, "Std. Error"])
    add(dataset, fit_label, "df_kenward_roger", terms, kr[, "df"])
    add(dataset, fit_label, "t_kenward_roger", terms, kr[, "t value"])
    add(dataset, fit_label, "p_kenward_roger", terms, kr[, "Pr(>|t|)"])
    va <- as.matrix(vcovAdj(m))
    add(dataset, fit_label, "se_vcovadj", terms, sqrt(diag(va)))
  }
  vc <- variance_components(m)
  add(dataset, fit_label, "variance", names(vc), vc)
  add(dataset, fit_label, "loglik", "", as.numeric(logLik(m)))
  add(dataset, fit_label, "theta", names(getME(m, "theta")), getME(m, "theta"))
  add(dataset, fit_label, "singular", "", as.numeric(isSingular(m, tol = 1e-4)))
  add(dataset, fit_label, "n_obs", "", nobs(m))

  for (nm in names(ftests)) {
    L <- ftests[[nm]]
    sat_f <- contestMD(m, L, ddf = "Satterthwaite")
    add(dataset, fit_label, paste0("F_", nm, "_satterthwaite"), "F", sat_f[["F value"]])
    add(dataset, fit_label, paste0("F_", nm, "_satterthwaite"), "num_df", sat_f[["NumDF"]])
    add(dataset, fit_label, paste0("F_", nm, "_satterthwaite"), "den_df", sat_f[["DenDF"]])
    add(dataset, fit_label, paste0("F_", nm, "_satterthwaite"), "p", sat_f[["Pr(>F)"]])
    if (is_reml) {
      krt <- KRmodcomp(m, L)$test
      add(dataset, fit_label, paste0("F_", nm, "_kenward_roger"), "F", krt["Ftest", "stat"])
      add(dataset, fit_label, paste0("F_", nm, "_kenward_roger"), "F_unscaled", krt["FtestU", "stat"])
      add(dataset, fit_label, paste0("F_", nm, "_kenward_roger"), "F_scaling", krt["Ftest", "F.scaling"])
      add(dataset, fit_label, paste0("F_", nm, "_kenward_roger"), "num_df", krt["Ftest", "ndf"])
      add(dataset, fit_label, paste0("F_", nm, "_kenward_roger"), "den_df", krt["Ftest", "ddf"])
      add(dataset, fit_label, paste0("F_", nm, "_kenward_roger"), "p", krt["Ftest", "p.value"])
    }
  }
}

contrast_rows <- function(m, rows_of) {
  terms <- names(fixef(m))
  L <- matrix(0, nrow = length(rows_of), ncol = length(terms))
  for (i in seq_along(rows_of)) L[i, match(rows_of[[i]], terms)] <- 1
  L
}

write_fixture <- function(dataset) {
  sel <- Filter(function(r) r$dataset[1] == dataset, rows)
  df <- do.call(rbind, sel)
  path <- file.path(out_dir, paste0(dataset, ".csv"))
  con <- file(path, "w")
  writeLines(sprintf("# generated by tests/reference/r/mixed_models.R on %s", format(Sys.Date())), con)
  for (nm in names(versions)) writeLines(sprintf("# %s: %s", nm, versions[[nm]]), con)
  close(con)
  suppressWarnings(write.table(df, path, sep = ",", row.names = FALSE, col.names = TRUE,
                               append = TRUE, quote = TRUE))
}

# Datasets named on the command line are refitted alone (all when none is named), e.g.
#   Rscript tests/reference/r/mixed_models.R trio_example
only <- commandArgs(trailingOnly = TRUE)

# kr = FALSE skips pbkrtest (Kenward-Roger), which works with dense n x n matrices
fit_both <- function(dataset, formula, data, ftests_of, kr = TRUE) {
  if (length(only) > 0 && !(dataset %in% only)) return(invisible(NULL))
  m_reml <- lmer(formula, data = data, REML = TRUE, control = ctrl)
  record_fit(dataset, "REML", m_reml, lapply(ftests_of, function(r) contrast_rows(m_reml, r)), kr)
  m_ml <- lmer(formula, data = data, REML = FALSE, control = ctrl)
  record_fit(dataset, "ML", m_ml, lapply(ftests_of, function(r) contrast_rows(m_ml, r)))
  write_fixture(dataset)
}

# (a) REFOCUS-shaped trial
refocus <- read.csv(file.path(data_dir, "refocus.csv"))
fit_both("refocus", y ~ arm + baseline + stratum + (1 | cluster), refocus,
         list(arm_stratum = list("arm", "stratum"),
              all_slopes = list("arm", "baseline", "stratum")))

# (b) boundary fit: cluster variance estimated as zero
boundary <- read.csv(file.path(data_dir, "boundary.csv"))
fit_both("boundary", y ~ arm + x + (1 | cluster), boundary,
         list(arm_x = list("arm", "x")))

# (c) very unbalanced clusters including singletons
unbalanced <- read.csv(file.path(data_dir, "unbalanced.csv"))
fit_both("unbalanced", y ~ x1 + x2 + z + (1 | cluster), unbalanced,
         list(x1_x2 = list("x1", "x2")))

# (d) public real multilevel data: MASS::nlschools (pupils within classes)
data(nlschools, package = "MASS")
nls <- nlschools
nls$COMB <- as.integer(as.character(nls$COMB))
nls$class <- as.character(nls$class)
write.csv(nls, file.path(data_dir, "nlschools.csv"), row.names = FALSE)
nls <- read.csv(file.path(data_dir, "nlschools.csv"))
nls$class <- as.character(nls$class)
fit_both("nlschools", lang ~ IQ + SES + COMB + GS + (1 | class), nls,
         list(comb_gs = list("COMB", "GS")))

# (e) nested random intercepts: consumers within teams, repeated measures
nested <- read.csv(file.path(data_dir, "nested.csv"))
nested$time <- factor(nested$time)
fit_both("nested", y ~ arm * time + (1 | team) + (1 | team:consumer), nested,
         list(arm_time = list("arm:time1", "arm:time2", "arm:time3", "arm:time4")))

# (f) the REFOCUS example's own primary model on its complete cases (exported from the bundled
#     synthetic example by tests/reference/data/mixed/export_refocus_example.py): follow-up QPR
#     total ~ arm + baseline QPR total + trust stratum + (1 | team). Trust is coded as in the
#     pipeline: treatment contrast against the first level listed in the config (SLaM).
example <- read.csv(file.path(data_dir, "refocus_example.csv"))
example$trust <- factor(example$trust, levels = c("SLaM", "2gether"))
fit_both("refocus_example",
         qpr_total__followup ~ treatment + qpr_total__baseline + trust + (1 | team_id), example,
         list(treatment_trust = list("treatment", "trust2gether")))

# (g) nested random intercepts at casenote-audit size (make_nested_large.py): 27 teams, 950
#     consumers, 7 time points, 15% of rows missing; Satterthwaite only
large <- read.csv(file.path(data_dir, "nested_large.csv"))
large$time <- factor(large$time)
fit_both("nested_large", y ~ arm * time + (1 | team) + (1 | team:consumer), large,
         list(arm_time = as.list(paste0("arm:time", 1:6))), kr = FALSE)

# (h) the three-arm TRIO example's primary model on its complete cases (exported by
#     tests/reference/data/mixed/export_trio_example.py): week-26 PHQ-9 ~ allocation (usual care
#     as reference) + baseline PHQ-9 + region + age + sex + (1 | practice). Factors are coded as
#     in the pipeline: treatment contrasts against the first level listed in the config.
trio <- read.csv(file.path(data_dir, "trio_example.csv"))
trio$allocation <- factor(trio$allocation,
                          levels = c("usual_care", "guided_self_help", "self_help_plus_groups"))
trio$region <- factor(trio$region, levels = c("north", "midlands", "south"))
trio$sex <- factor(trio$sex, levels = c("female", "male"))
fit_both("trio_example",
         phq9__followup ~ allocation + phq9__baseline + region + age + sex + (1 | practice_id),
         trio,
         list(arms = list("allocationguided_self_help", "allocationself_help_plus_groups")))

cat("fixtures written to", out_dir, "\n")
