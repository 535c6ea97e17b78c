# Reference values for src/trial/audit.py: cluster-robust summaries and arm x time models.
#
# Reads tests/reference/data/audit/audit_long.csv (made by make_data.py there) and writes
# tests/reference/fixtures/audit/audit.csv with columns outcome, block, quantity, term, term2,
# value, after '#' lines recording the R and package versions:
#   block "by_time"  per audit_time and arm: mean of y and its SE from
#                    sandwich::vcovCL(lm(y ~ 1), cluster = ~team_id, type = "HC0",
#                    cadjust = TRUE), i.e. G/(G-1) * sum_g (sum_i e_i)^2 / n^2.
#   block "panel"    lm(y ~ 0 + factor(audit_id) + time dummies + treatment x time dummies)
#                    (individual fixed effects by least-squares dummies), coefficients of the
#                    time and interaction terms and their covariance from vcovCL(type = "HC0",
#                    cadjust = TRUE); "cov_cr1" multiplies it by (n - 1) / (n - k), k = number of
#                    slope terms (12): the factor G/(G-1) (n-1)/(n-k) of Stata's
#                    xtreg, fe vce(cluster) with the nested individual effects not counted.
#   block "mixed"    lmerTest::lmer(y ~ treatment + trust + time dummies + interactions +
#                    (1 | team_id) + (1 | team_id:audit_id), REML): fixed effects, variance
#                    components, Satterthwaite F test of the six interactions (contest, joint)
#                    and Satterthwaite contrasts (contest1D) for the difference at time 7
#                    (treatment + a7) and the difference-in-differences a7 - a2 / 2.
# Run from the repository root:  Rscript tests/reference/r/audit.R
# Numbers are written with 17 significant digits.

suppressPackageStartupMessages({
  library(sandwich)
  library(lme4)
  library(lmerTest)
})

data_dir <- file.path("tests", "reference", "data", "audit")
out_dir <- file.path("tests", "reference", "fixtures", "audit")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

d <- read.csv(file.path(data_dir, "audit_long.csv"), stringsAsFactors = FALSE)
times <- sort(unique(d$audit_time))
later <- times[-1]
for (t in later) {
  d[[paste0("t", t)]] <- as.numeric(d$audit_time == t)
  d[[paste0("a", t)]] <- d$treatment * as.numeric(d$audit_time == t)
}
d$trust2gether <- as.numeric(d$trust == "2gether")
tt <- paste0("t", later)
aa <- paste0("a", later)

rows <- list()
add <- function(outcome, block, quantity, term, term2, value) {
  rows[[length(rows) + 1]] <<- data.frame(
    outcome = outcome, block = block, quantity = quantity, term = term, term2 = term2,
    value = sprintf("%.17g", value), stringsAsFactors = FALSE)
}

for (outcome in c("items_documented", "values_documented")) {
  d$y <- d[[outcome]]

  # per time point and arm
  for (t in times) for (arm in c(0, 1)) {
    s <- d[d$audit_time == t & d$treatment == arm, ]
    fit <- lm(y ~ 1, data = s)
    v <- vcovCL(fit, cluster = ~team_id, type = "HC0", cadjust = TRUE)
    key <- paste0("time", t, "_arm", arm)
    add(outcome, "by_time", "estimate", key, "", coef(fit)[[1]])
    add(outcome, "by_time", "se", key, "", sqrt(v[1, 1]))
    add(outcome, "by_time", "n_clusters", key, "", length(unique(s$team_id)))
  }

  # fixed-effects panel model by least-squares dummies
  f_panel <- as.formula(paste("y ~ 0 + factor(audit_id) +", paste(c(tt, aa), collapse = " + ")))
  fit <- lm(f_panel, data = d)
  v <- vcovCL(fit, cluster = ~team_id, type = "HC0", cadjust = TRUE)
  slopes <- c(tt, aa)
  n <- nrow(d)
  k <- length(slopes)
  for (a in slopes) {
    add(outcome, "panel", "estimate", a, "", coef(fit)[[a]])
    for (b in slopes) {
      add(outcome, "panel", "cov_cr1", a, b, v[a, b] * (n - 1) / (n - k))
    }
  }
  add(outcome, "panel", "n_clusters", "", "", length(unique(d$team_id)))

  # mixed model with team and nested individual random intercepts
  f_mixed <- as.formula(paste(
    "y ~ treatment + trust2gether +", paste(c(tt, aa), collapse = " + "),
    "+ (1 | team_id) + (1 | team_id:audit_id)"))
  m <- lmer(f_mixed, data = d, REML = TRUE)
  fe <- fixef(m)
  for (a in names(fe)) add(outcome, "mixed", "estimate", a, "", fe[[a]])
  vc <- as.data.frame(VarCorr(m))
  add(outcome, "mixed", "variance", "cluster", "", vc$vcov[vc$grp == "team_id"])
  add(outcome, "mixed", "variance", "nested", "", vc$vcov[vc$grp == "team_id:audit_id"])
  add(outcome, "mixed", "variance", "residual", "", vc$vcov[vc$grp == "Residual"])
  L <- matrix(0, length(aa), length(fe), dimnames = list(aa, names(fe)))
  for (a in aa) L[a, a] <- 1
  ft <- contest(m, L, joint = TRUE, ddf = "Satterthwaite")
  add(outcome, "mixed", "F", "arm_x_time", "", ft[["F value"]])
  add(outcome, "mixed", "num_df", "arm_x_time", "", ft[["NumDF"]])
  add(outcome, "mixed", "den_df", "arm_x_time", "", ft[["DenDF"]])
  last <- paste0("a", max(times))
  l_diff <- setNames(rep(0, length(fe)), names(fe))
  l_diff[["treatment"]] <- 1
  l_diff[[last]] <- 1
  l_did <- setNames(rep(0, length(fe)), names(fe))
  l_did[[last]] <- 1
  l_did[["a2"]] <- -0.5
  for (q in list(list("difference_at_final_time", l_diff), list("did_final_vs_pre", l_did))) {
    ct <- contest1D(m, q[[2]], ddf = "Satterthwaite")
    add(outcome, "mixed", "estimate", q[[1]], "", ct[["Estimate"]])
    add(outcome, "mixed", "se", q[[1]], "", ct[["Std. Error"]])
    add(outcome, "mixed", "df", q[[1]], "", ct[["df"]])
  }
}

out <- do.call(rbind, rows)
path <- file.path(out_dir, "audit.csv")
header <- c(
  paste("# generated by tests/reference/r/audit.R on", Sys.Date()),
  paste("# R:", R.version.string),
  paste("# sandwich:", packageVersion("sandwich")),
  paste("# lme4:", packageVersion("lme4")),
  paste("# lmerTest:", packageVersion("lmerTest"))
)
writeLines(header, path)
suppressWarnings(write.table(out, path, sep = ",", row.names = FALSE, quote = FALSE,
                             append = TRUE))
