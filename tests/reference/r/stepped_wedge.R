# Reference values for the stepped-wedge models (src/trial/analyses/stepped_wedge.py).
#
# Reads tests/reference/data/stepped/stepped_example.csv (the bundled stepped-wedge example's
# patients with a 30-day score, exported by tests/reference/data/stepped/export_stepped_example.py)
# and fits with lme4 (REML), lmerTest and pbkrtest:
#   hussey_hughes        outcome ~ period + treatment + (1 | cluster)
#   nested_exchangeable  outcome ~ period + treatment + (1 | cluster) + (1 | cluster:period)
#   exposure_time        outcome ~ period + exposure1 + ... + exposure4
#                        + (1 | cluster) + (1 | cluster:period)
# with period a factor (first period the reference), and the same models adjusted:
#   nested_exchangeable_baseline_age   + baseline + age   (the example's own model)
#   <model>_covariates                 + baseline + age + beds, for hussey_hughes,
#                                      nested_exchangeable and exposure_time, where beds is the
#                                      ward-level covariate of ward_beds.csv (merged here by ward)
# For exposure_time (and its adjusted form) it also records the mean of the four exposure
# effects with its Kenward-Roger SE (vcovAdj) and df (pbkrtest get_Lb_ddf).
# The treatment and exposure columns of the CSV are first recomputed here from the committed raw
# tables (data/raw/stepped/wards.csv crossover_period, patients.csv period) and must agree.
# Writes tests/reference/fixtures/stepped/stepped_example.csv: model, quantity, term, value
# ('#' header lines record the versions).
# Run from the repository root:  Rscript tests/reference/r/stepped_wedge.R

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
})

d <- read.csv(file.path("tests", "reference", "data", "stepped", "stepped_example.csv"),
              colClasses = c(cluster = "character", period = "character"))
wards <- read.csv(file.path("data", "raw", "stepped", "wards.csv"), colClasses = "character")
switch_at <- as.integer(wards$crossover_period[match(d$cluster, wards$ward_id)])
period <- as.integer(d$period)
stopifnot(all(d$treatment == as.integer(period >= switch_at)))
stopifnot(all(d$exposure == ifelse(period >= switch_at, period - switch_at + 1, 0)))

d$period <- factor(d$period, levels = as.character(1:5))
for (k in 1:4) d[[paste0("exposure", k)]] <- as.integer(d$exposure == k)

ctrl <- lmerControl(
  optimizer = "nloptwrap",
  optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-15, xtol_rel = 1e-12, ftol_rel = 1e-15,
                 maxeval = 100000),
  check.conv.singular = "ignore"
)

rows <- list()
add <- function(model, quantity, term, value) {
  rows[[length(rows) + 1L]] <<- data.frame(
    model = model, quantity = quantity, term = term,
    value = sprintf("%.17g", as.numeric(value)), stringsAsFactors = FALSE
  )
}

record <- function(model, m) {
  terms <- names(fixef(m))
  add(model, "estimate", terms, fixef(m))
  add(model, "se", terms, sqrt(diag(as.matrix(vcov(m)))))
  kr <- summary(m, ddf = "Kenward-Roger")$coefficients
  add(model, "se_kenward_roger", terms, kr[, "Std. Error"])
  add(model, "df_kenward_roger", terms, kr[, "df"])
  sat <- summary(m, ddf = "Satterthwaite")$coefficients
  add(model, "df_satterthwaite", terms, sat[, "df"])
  vc <- as.data.frame(VarCorr(m))
  add(model, "variance", vc$grp, vc$vcov)
  add(model, "loglik", "", as.numeric(logLik(m)))
  add(model, "n_obs", "", nobs(m))
}

m_hh <- lmer(outcome ~ period + treatment + (1 | cluster), data = d, REML = TRUE, control = ctrl)
record("hussey_hughes", m_hh)
m_ne <- lmer(outcome ~ period + treatment + (1 | cluster) + (1 | cluster:period), data = d,
             REML = TRUE, control = ctrl)
record("nested_exchangeable", m_ne)
record_mean_exposure <- function(model, m) {
  terms <- names(fixef(m))
  L <- matrix(0, 1, length(terms))
  L[1, match(paste0("exposure", 1:4), terms)] <- 0.25
  va <- as.matrix(vcovAdj(m))
  add(model, "mean_exposure_effect", "estimate", L %*% fixef(m))
  add(model, "mean_exposure_effect", "se_kenward_roger", sqrt(L %*% va %*% t(L)))
  add(model, "mean_exposure_effect", "df_kenward_roger", get_Lb_ddf(m, L))
}
m_et <- lmer(outcome ~ period + exposure1 + exposure2 + exposure3 + exposure4 + (1 | cluster) +
               (1 | cluster:period), data = d, REML = TRUE, control = ctrl)
record("exposure_time", m_et)
record_mean_exposure("exposure_time", m_et)

beds <- read.csv(file.path("tests", "reference", "data", "stepped", "ward_beds.csv"),
                 colClasses = c(ward_id = "character"))
d$beds <- beds$beds[match(d$cluster, beds$ward_id)]
stopifnot(!anyNA(d$beds), !anyNA(d$baseline), !anyNA(d$age))
m_ba <- lmer(outcome ~ period + treatment + baseline + age + (1 | cluster) + (1 | cluster:period),
             data = d, REML = TRUE, control = ctrl)
record("nested_exchangeable_baseline_age", m_ba)
m_hh_cov <- lmer(outcome ~ period + treatment + baseline + age + beds + (1 | cluster), data = d,
                 REML = TRUE, control = ctrl)
record("hussey_hughes_covariates", m_hh_cov)
m_ne_cov <- lmer(outcome ~ period + treatment + baseline + age + beds + (1 | cluster) +
                   (1 | cluster:period), data = d, REML = TRUE, control = ctrl)
record("nested_exchangeable_covariates", m_ne_cov)
m_et_cov <- lmer(outcome ~ period + exposure1 + exposure2 + exposure3 + exposure4 + baseline +
                   age + beds + (1 | cluster) + (1 | cluster:period), data = d, REML = TRUE,
                 control = ctrl)
record("exposure_time_covariates", m_et_cov)
record_mean_exposure("exposure_time_covariates", m_et_cov)

path <- file.path("tests", "reference", "fixtures", "stepped", "stepped_example.csv")
con <- file(path, "w")
writeLines(sprintf("# generated by tests/reference/r/stepped_wedge.R on %s", format(Sys.Date())), con)
for (p in c("lme4", "lmerTest", "pbkrtest", "Matrix"))
  writeLines(sprintf("# %s: %s", p, as.character(packageVersion(p))), con)
writeLines(sprintf("# R: %s", R.version.string), con)
close(con)
suppressWarnings(write.table(do.call(rbind, rows), path, sep = ",", row.names = FALSE,
                             append = TRUE, quote = TRUE))
cat("fixture written to", path, "\n")
