# Times lme4::glmer on one binary trial dataset: the R side of benchmarks/bench_glmm_vs_r.py.
#
# Usage: Rscript benchmarks/r_glmm_fit.R DATA.csv NAGQ REPEATS
# DATA.csv has columns cluster, arm, stratum, x, y; the model is
#   y ~ arm + stratum + x + (1 | cluster), binomial logit, nAGQ = NAGQ, lme4's default control.
# Only the glmer() call is timed (package loading and reading the data are not). Prints one line
#   seconds: <t_1> ... <t_REPEATS>
# and the estimates of the last fit.
suppressPackageStartupMessages(library(lme4))

args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
nagq <- as.integer(args[2])
repeats <- as.integer(args[3])
times <- numeric(repeats)
for (i in seq_len(repeats)) {
  t0 <- proc.time()[["elapsed"]]
  m <- glmer(y ~ arm + stratum + x + (1 | cluster), data = d, family = binomial, nAGQ = nagq)
  times[i] <- proc.time()[["elapsed"]] - t0
}
cat("seconds:", sprintf("%.6f", times), "\n")
print(cbind(estimate = fixef(m), se = sqrt(diag(as.matrix(vcov(m))))), digits = 6)
cat("theta:", getME(m, "theta"), "\n")
