# The REFOCUS primary analysis as an R user would run it, timed: the benchmark the pipeline's
# primary analysis (benchmarks/bench_primary_vs_r.py) is compared with.
#
#   1. mice: multilevel imputation of the follow-up QPR total with 2l.pan (random-intercept
#      normal model, the team as cluster), predictors = arm, trust (the stratum), the team's
#      participation score (0 in control teams; the config's cluster variable), baseline QPR
#      total, age and gender (the config's auxiliary variables), the last three also as team
#      means (predictorMatrix code 3), as the pipeline's multilevel engine does; m imputations
#      of maxit iterations;
#   2. lme4::lmer per completed dataset: followup ~ arm + baseline + trust + (1 | team), REML;
#   3. mitml::testEstimates: Rubin's rules with Barnard-Rubin df, given df.com (the complete-data
#      df; here the between-within df: clusters - cluster-level fixed effects = 27 - 3 = 24).
#
# Usage: Rscript benchmarks/r_primary_analysis.R ANALYSIS_TABLE.csv [M] [MAXIT] [SEED]
#   ANALYSIS_TABLE.csv: the pipeline's scored analysis table as CSV (the copy of data/derived/
#   refocus/scored/analysis_table.parquet that bench_pipeline.py or bench_primary_vs_r.py
#   writes); M = 50, MAXIT = 20 by default
#   (the pipeline's iterations).
# Prints the pooled arm effect and `seconds: <impute> <fit> <pool> <total>` (data loading and
# package loading excluded, as in the Python benchmark).
suppressPackageStartupMessages({
  library(mice)
  library(lme4)
  library(mitml)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 1) stop("usage: Rscript r_primary_analysis.R ANALYSIS_TABLE.csv [M] [MAXIT] [SEED]")
path <- args[1]
m <- if (length(args) >= 2) as.integer(args[2]) else 50L
maxit <- if (length(args) >= 3) as.integer(args[3]) else 20L
seed <- if (length(args) >= 4) as.integer(args[4]) else 20110401L

d <- read.csv(path, stringsAsFactors = FALSE)
dat <- data.frame(
  team = as.integer(factor(d$team_id)),   # 2l.pan needs an integer cluster variable
  treatment = d$treatment,
  trust = as.integer(d$trust == "2gether"),
  age = d$age,
  male = as.integer(d$gender == "male"),
  participation = d$participation_score,
  baseline = d$qpr_total__baseline,
  followup = d$qpr_total__followup
)
cat(sprintf("%d consumers, %d teams, %d follow-up values missing; m = %d, maxit = %d\n",
            nrow(dat), length(unique(dat$team)), sum(is.na(dat$followup)), m, maxit))

t0 <- proc.time()[["elapsed"]]
meth <- make.method(dat)
meth[] <- ""
meth["followup"] <- "2l.pan"
pred <- make.predictorMatrix(dat)
pred[, ] <- 0
pred["followup", c("treatment", "trust", "participation")] <- 1
pred["followup", c("age", "male", "baseline")] <- 3   # fixed effect and team mean
pred["followup", "team"] <- -2                   # the cluster variable
imp <- mice(dat, m = m, maxit = maxit, method = meth, predictorMatrix = pred,
            seed = seed, printFlag = FALSE)
t1 <- proc.time()[["elapsed"]]

completed <- mitml::mids2mitml.list(imp)
fits <- with(completed, lmer(followup ~ treatment + baseline + trust + (1 | team), REML = TRUE))
t2 <- proc.time()[["elapsed"]]

pooled <- testEstimates(fits, df.com = length(unique(dat$team)) - 3)
t3 <- proc.time()[["elapsed"]]

print(pooled$estimates["treatment", , drop = FALSE])
cat(sprintf("seconds: %.3f %.3f %.3f %.3f\n", t1 - t0, t2 - t1, t3 - t2, t3 - t0))
