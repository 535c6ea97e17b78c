# Reference values for src/trial/participation.py (two-stage least squares with a
# cluster-robust covariance) and src/trial/icc.py (ANOVA ICC with Searle's interval).
#
# Reads the committed inputs in tests/reference/data/secondary/ (made by make_data.py there)
# and writes tests/reference/fixtures/secondary/:
#   iv.csv        AER::ivreg(y ~ baseline + stratum + received | baseline + stratum + arm) with
#                 sandwich::vcovCL(fit, cluster = ~cluster, type = "HC1", cadjust = TRUE), i.e.
#                 the covariance scaled by G/(G-1) * (n-1)/(n-k); plus the plain (model-based)
#                 2SLS standard error and the Wald ratio without covariates.
#   icc.csv       per case: one-way ANOVA (stats::aov) mean squares, n0, the ANOVA ICC and
#                 Searle's F-based 95% interval with n0 (formula in src/trial/icc.py),
#                 computed here from aov's mean squares and stats::qf.
#   versions.csv  R, AER and sandwich versions
# Run from the repository root:  Rscript tests/reference/r/secondary.R
# Numbers are written with 17 significant digits so that they round-trip exactly.

suppressPackageStartupMessages({
  library(AER)
  library(sandwich)
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

versions <- data.frame(
  package = c("R", "AER", "sandwich"),
  version = c(paste(R.version$major, R.version$minor, sep = "."),
              as.character(packageVersion("AER")), as.character(packageVersion("sandwich")))
)
write.csv(versions, file.path(out_dir, "versions.csv"), row.names = FALSE, quote = FALSE)
