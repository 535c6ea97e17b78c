# Reference values for src/trial/stats/iv.py (two-stage least squares with a
# cluster-robust covariance) and src/trial/analyses/icc.py (ANOVA ICC with Searle's interval).
#
# Reads the committed inputs in tests/reference/data/secondary/ (made by make_data.py there)
# and writes tests/reference/fixtures/secondary/:
#   iv.csv        AER::ivreg(y ~ baseline + stratum + received | baseline + stratum + arm) with
#                 sandwich::vcovCL(fit, cluster = ~cluster, type = "HC1", cadjust = TRUE), i.e.
#                 the covariance scaled by G/(G-1) * (n-1)/(n-k); plus the plain (model-based)
#                 2SLS standard error and the Wald ratio without covariates.
#   icc.csv       per case: one-way ANOVA (stats::aov) mean squares, n0, the ANOVA ICC and
#                 Searle's F-based 95% interval with n0 (formula in src/trial/analyses/icc.py),
#                 computed here from aov's mean squares and stats::qf.
#   trial_two_stage.csv  on trial.csv: Hayes and Moulton's two-stage cluster-level analysis.
#                 Stage 1 lm(y ~ baseline + stratum + age) on the complete cases (no arm);
#                 stage 2 the cluster-mean residuals compared between arms by t.test(var.equal
#                 = TRUE) (unweighted) and by lm(r ~ arm, weights = n) (weighted), p on
#                 clusters - strata - arms + 1 df.
#   trial_icc.csv on trial.csv: within-arm one-way ANOVA ICC from aov(y ~ arm + cluster) mean
#                 squares with n0 = (N - sum over arms of sum n_j^2 / N_arm) / (k - A) and
#                 Searle's interval on (k - A, N - k) df; and the ICC of
#                 lme4::lmer(y ~ arm + baseline + stratum + age + (1 | cluster), REML), at
#                 follow-up (y) and at baseline (baseline ~ arm + stratum + age).
#   trial_iv.csv  on trial.csv: AER::ivreg 2SLS of y on received (any participation) and on
#                 score (dose), instrumented by arm, with baseline, stratum and age, and
#                 vcovCL HC1 standard errors; and the cluster-level 2SLS of the stage-1
#                 cluster-mean residuals on received / score instrumented by arm (ivreg on one
#                 row per cluster, model-based standard error).
#   versions.csv  R, AER, sandwich and lme4 versions
# Run from the repository root:  Rscript tests/reference/r/secondary.R
# Numbers are written with 17 significant digits so that they round-trip exactly.

suppressPackageStartupMessages({
  library(AER)
  library(sandwich)
  library(lme4)
})

data_dir <- file.path("tests", "reference", "data", "secondary")
out_dir <- file.path("tests", "reference", "fixtures", "secondary")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
num <- function(x) sprintf("%.17g", x)

d <- read.csv(file.path(data_dir, "iv.csv"))
d$stratum <- as.numeric(d$stratum)
fit <- ivreg(y ~ baseline + stratum + received | baseline + stratum + arm, data = d)
V <- vcovCL(fit, cluster = ~cluster, type = "HC1", cadjust = TRUE)
plain <- sqrt(diag(vcov(fit)))
wald <- cov(d$y, d$arm) / cov(d$received, d$arm)
iv <- data.frame(
  term = names(coef(fit)),
  estimate = num(coef(fit)),
  se_cluster_hc1 = num(sqrt(diag(V))),
  se_model = num(plain)
)
iv <- rbind(iv, data.frame(term = "wald_ratio_no_covariates", estimate = num(wald),
                           se_cluster_hc1 = "NA", se_model = "NA"))
write.csv(iv, file.path(out_dir, "iv.csv"), row.names = FALSE, quote = FALSE)

icc_rows <- list()
for (name in c("unequal", "equal", "small")) {
  x <- read.csv(file.path(data_dir, paste0("icc_", name, ".csv")))
  x$cluster <- factor(x$cluster)
  tab <- summary(aov(y ~ cluster, data = x))[[1]]
  msb <- tab[["Mean Sq"]][1]
  msw <- tab[["Mean Sq"]][2]
  k <- nlevels(x$cluster)
  N <- nrow(x)
  nj <- as.numeric(table(x$cluster))
  n0 <- (N - sum(nj^2) / N) / (k - 1)
  F <- msb / msw
  FL <- F / qf(0.975, k - 1, N - k)
  FU <- F / qf(0.025, k - 1, N - k)
  icc_rows[[name]] <- data.frame(
    case = name, k = k, N = N, msb = num(msb), msw = num(msw), n0 = num(n0),
    icc = num((msb - msw) / (msb + (n0 - 1) * msw)),
    ci_low = num((FL - 1) / (FL + n0 - 1)),
    ci_high = num((FU - 1) / (FU + n0 - 1))
  )
}
write.csv(do.call(rbind, icc_rows), file.path(out_dir, "icc.csv"), row.names = FALSE,
          quote = FALSE)

# ---- trial.csv: two-stage cluster-level analysis, ICCs, IV ------------------------------------
tr <- read.csv(file.path(data_dir, "trial.csv"))
tr$stratum <- factor(tr$stratum, levels = c("s1", "s2", "s3"))
cc <- tr[!is.na(tr$y), ]
stage1 <- lm(y ~ baseline + stratum + age, data = cc)
cc$r <- residuals(stage1)
cl <- data.frame(
  cluster = sort(unique(cc$cluster)),
  r = as.numeric(tapply(cc$r, cc$cluster, mean)),
  n = as.numeric(tapply(cc$r, cc$cluster, length)),
  arm = as.numeric(tapply(cc$arm, cc$cluster, mean)),
  score = as.numeric(tapply(cc$score, cc$cluster, mean)),
  received = as.numeric(tapply(cc$received, cc$cluster, mean))
)
G <- nrow(cl)
S <- nlevels(tr$stratum)
df_two_stage <- G - S - 2 + 1
tt <- t.test(cl$r[cl$arm == 1], cl$r[cl$arm == 0], var.equal = TRUE)
est_u <- mean(cl$r[cl$arm == 1]) - mean(cl$r[cl$arm == 0])
se_u <- est_u / unname(tt$statistic)
wfit <- summary(lm(r ~ arm, data = cl, weights = n))$coefficients
two_stage <- data.frame(
  analysis = c("unweighted", "weighted"),
  estimate = num(c(est_u, wfit["arm", "Estimate"])),
  se = num(c(se_u, wfit["arm", "Std. Error"])),
  df = c(df_two_stage, df_two_stage),
  p = num(c(2 * pt(-abs(unname(tt$statistic)), df_two_stage),
            2 * pt(-abs(wfit["arm", "t value"]), df_two_stage))),
  n_clusters = c(G, G),
  n_individuals = c(nrow(cc), nrow(cc))
)
write.csv(two_stage, file.path(out_dir, "trial_two_stage.csv"), row.names = FALSE, quote = FALSE)

within_arm <- function(x, column) {
  x <- x[!is.na(x[[column]]), ]
  x$cluster <- factor(x$cluster)
  tab <- summary(aov(x[[column]] ~ factor(x$arm) + x$cluster))[[1]]
  msb <- tab[["Mean Sq"]][2]
  msw <- tab[["Mean Sq"]][3]
  k <- nlevels(x$cluster)
  A <- length(unique(x$arm))
  N <- nrow(x)
  nj <- as.numeric(table(x$cluster))
  arm_of <- as.numeric(tapply(x$arm, x$cluster, mean))
  Na <- as.numeric(table(x$arm))[match(arm_of, sort(unique(x$arm)))]
  n0 <- (N - sum(nj^2 / Na)) / (k - A)
  F <- msb / msw
  FL <- F / qf(0.975, k - A, N - k)
  FU <- F / qf(0.025, k - A, N - k)
  c(msb = msb, msw = msw, n0 = n0, icc = (msb - msw) / (msb + (n0 - 1) * msw),
    ci_low = (FL - 1) / (FL + n0 - 1), ci_high = (FU - 1) / (FU + n0 - 1), k = k, N = N)
}
lmer_icc <- function(formula, data) {
  m <- lmer(formula, data = data, REML = TRUE)
  vc <- as.data.frame(VarCorr(m))
  c(icc = vc$vcov[1] / sum(vc$vcov), var_cluster = vc$vcov[1], var_residual = vc$vcov[2],
    N = nobs(m))
}
wf <- within_arm(tr, "y")
wb <- within_arm(tr, "baseline")
af <- lmer_icc(y ~ arm + baseline + stratum + age + (1 | cluster), tr[!is.na(tr$y), ])
ab <- lmer_icc(baseline ~ arm + stratum + age + (1 | cluster), tr)
icc_out <- data.frame(
  timepoint = c("followup", "baseline", "followup", "baseline"),
  estimator = c("within_arm_anova", "within_arm_anova", "model_adjusted", "model_adjusted"),
  icc = num(c(wf["icc"], wb["icc"], af["icc"], ab["icc"])),
  ci_low = num(c(wf["ci_low"], wb["ci_low"], NA, NA)),
  ci_high = num(c(wf["ci_high"], wb["ci_high"], NA, NA)),
  msb = num(c(wf["msb"], wb["msb"], NA, NA)),
  msw = num(c(wf["msw"], wb["msw"], NA, NA)),
  n0 = num(c(wf["n0"], wb["n0"], NA, NA)),
  var_cluster = num(c(NA, NA, af["var_cluster"], ab["var_cluster"])),
  var_residual = num(c(NA, NA, af["var_residual"], ab["var_residual"])),
  N = c(wf["N"], wb["N"], af["N"], ab["N"])
)
write.csv(icc_out, file.path(out_dir, "trial_icc.csv"), row.names = FALSE, quote = FALSE)

iv_rows <- list()
for (received in c("received", "score")) {
  f <- as.formula(paste("y ~ baseline + stratum + age +", received,
                        "| baseline + stratum + age + arm"))
  fit <- ivreg(f, data = cc)
  V <- vcovCL(fit, cluster = ~cluster, type = "HC1", cadjust = TRUE)
  fc <- ivreg(as.formula(paste("r ~", received, "| arm")), data = cl)
  iv_rows[[received]] <- data.frame(
    received = received,
    level = c("individual", "cluster"),
    estimate = num(c(coef(fit)[received], coef(fc)[received])),
    se = num(c(sqrt(V[received, received]), sqrt(vcov(fc)[received, received])))
  )
}
write.csv(do.call(rbind, iv_rows), file.path(out_dir, "trial_iv.csv"), row.names = FALSE,
          quote = FALSE)

versions <- data.frame(
  package = c("R", "AER", "sandwich", "lme4"),
  version = c(paste(R.version$major, R.version$minor, sep = "."),
              as.character(packageVersion("AER")), as.character(packageVersion("sandwich")),
              as.character(packageVersion("lme4")))
)
write.csv(versions, file.path(out_dir, "versions.csv"), row.names = FALSE, quote = FALSE)
