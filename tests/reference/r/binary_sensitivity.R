# Reference values for the sensitivity analyses of a binary primary outcome
# (src/trial/analyses/sensitivity.py: sensitivity_analyses with a binomial primary outcome).
#
# Input: tests/reference/fixtures/binary/completed.csv (written by binary_pooled.R: m completed
# datasets of a PULSE-shaped trial, 34 practices in 2 regions). Writes
# tests/reference/fixtures/binary_sensitivity/:
#   observed.csv   the first completed dataset with the 0/1 follow-up set missing at random given
#                  its baseline (seed below): the input of the complete-case analysis
#   results.csv    one row per method (glmm, gee, or any for the cluster level) and analysis:
#                  complete_case  lme4::glmer(y ~ treatment + baseline + region + age + sex +
#                                 (1 | practice), nAGQ = 10) on the observed rows; df between-within
#                  unadjusted     glmer(y ~ treatment + (1 | practice), nAGQ = 10) on each completed
#                                 dataset, pooled by mitml::testEstimates(df.com = clusters - 2)
#                  cluster_level_risk_difference / _log_risk_ratio
#                                 two-stage residual method (Hayes and Moulton 2017, 9.2, 10.3),
#                                 written out here from its definition: glm(y ~ baseline + region +
#                                 age + sex, binomial) without arm, per practice observed events d,
#                                 expected events e and size n; difference residual (d - e) / n,
#                                 log ratio residual log((d + c) / e) (c = 0.5 when some practice
#                                 has no event, else 0); stats::t.test(var.equal = TRUE) between
#                                 arms; df = clusters - 2 - 1 (region is a cluster-level stage-1
#                                 parameter); pooled over the completed datasets by
#                                 mitml::testEstimates(df.com = 31)
#                  The GLMM rows again with the population-averaged model (method "gee"):
#                  geepack::geeglm(..., corstr = "exchangeable") with the Kauermann-Carroll
#                  bias-corrected covariance (the config's default gee_covariance; computed by
#                  gee_corrections.R from its published formula after its uncorrected sandwich is
#                  checked against geepack's), t on clusters minus coefficients (complete case
#                  J - 6, unadjusted J - 2, the latter pooled by mitml with that df.com)
#   versions.csv   R, lme4, mitml and geepack versions
# Run from the repository root:  Rscript tests/reference/r/binary_sensitivity.R
# Numbers are written with 17 significant digits so that they round-trip exactly.

suppressPackageStartupMessages({
  library(lme4)
  library(mitml)
  library(geepack)
})
source(file.path("tests", "reference", "r", "gee_corrections.R"))

in_dir <- file.path("tests", "reference", "fixtures", "binary")
out_dir <- file.path("tests", "reference", "fixtures", "binary_sensitivity")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
num <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))

completed <- read.csv(file.path(in_dir, "completed.csv"), stringsAsFactors = FALSE)
m <- max(completed$.imp)
J <- length(unique(completed$practice_id))

set.seed(20261201)
observed <- completed[completed$.imp == 1, names(completed) != ".imp"]
lost <- runif(nrow(observed)) < plogis(-1.4 - 0.6 * observed$bp_controlled__baseline)
observed$bp_controlled__followup[lost] <- NA
write.csv(observed, file.path(out_dir, "observed.csv"), row.names = FALSE, quote = FALSE,
          na = "")

full <- bp_controlled__followup ~ treatment + bp_controlled__baseline + region + age + sex
rows <- list()
method <- "glmm"
add <- function(analysis, est, se, df, ci_low, ci_high, p, n) {
  rows[[length(rows) + 1]] <<- data.frame(
    method = method, analysis = analysis, estimate = num(est), se = num(se), df = num(df),
    ci_low = num(ci_low), ci_high = num(ci_high), p = num(p), n_individuals = n
  )
}

cc <- observed[!is.na(observed$bp_controlled__followup), ]
fit <- glmer(update(full, . ~ . + (1 | practice_id)), data = cc, family = binomial, nAGQ = 10)
est <- unname(fixef(fit)["treatment"])
se <- sqrt(as.matrix(vcov(fit))["treatment", "treatment"])
df <- J - 3 # intercept, treatment and region are constant within practices
q <- qt(0.975, df)
add("complete_case", est, se, df, est - q * se, est + q * se, 2 * pt(-abs(est / se), df), nrow(cc))

pool <- function(analysis, qhat, uhat, dfc, n) {
  te <- testEstimates(qhat = qhat, uhat = uhat, df.com = dfc)
  e <- te$estimates
  ci <- confint(te, level = 0.95)
  add(analysis, e[1, "Estimate"], e[1, "Std.Error"], e[1, "df"], ci[1, 1], ci[1, 2],
      e[1, "P(>|t|)"], n)
}

q_u <- list(); u_u <- list(); q_d <- list(); u_d <- list(); q_r <- list(); u_r <- list()
for (k in seq_len(m)) {
  d <- completed[completed$.imp == k, ]
  fit <- glmer(bp_controlled__followup ~ treatment + (1 | practice_id), data = d,
               family = binomial, nAGQ = 10)
  q_u[[k]] <- c(treatment = unname(fixef(fit)["treatment"]))
  u_u[[k]] <- matrix(as.matrix(vcov(fit))["treatment", "treatment"], 1, 1,
                     dimnames = list("treatment", "treatment"))
  stage1 <- glm(bp_controlled__followup ~ bp_controlled__baseline + region + age + sex,
                data = d, family = binomial)
  d$expected <- fitted(stage1)
  ev <- tapply(d$bp_controlled__followup, d$practice_id, sum)
  ex <- tapply(d$expected, d$practice_id, sum)
  size <- tapply(d$expected, d$practice_id, length)
  arm <- tapply(d$treatment, d$practice_id, function(v) v[1])
  corr <- if (any(ev == 0)) 0.5 else 0
  for (measure in c("difference", "ratio")) {
    r <- if (measure == "difference") (ev - ex) / size else log((ev + corr) / ex)
    tt <- t.test(r[arm == 1], r[arm == 0], var.equal = TRUE)
    est <- unname(tt$estimate[1] - tt$estimate[2])
    v <- unname(tt$stderr)^2
    if (measure == "difference") {
      q_d[[k]] <- c(treatment = est); u_d[[k]] <- matrix(v, 1, 1, dimnames = list("treatment", "treatment"))
    } else {
      q_r[[k]] <- c(treatment = est); u_r[[k]] <- matrix(v, 1, 1, dimnames = list("treatment", "treatment"))
    }
  }
}
n_all <- sum(completed$.imp == 1)
pool("unadjusted", q_u, u_u, J - 2, n_all)
method <- "any"  # the cluster-level analysis is the same whichever model the config names
pool("cluster_level_risk_difference", q_d, u_d, J - 3, n_all)
pool("cluster_level_log_risk_ratio", q_r, u_r, J - 3, n_all)

# GEE: exchangeable working correlation, Kauermann-Carroll covariance, t on J - p df
kc_fit <- function(f, d) {
  d <- d[order(d$practice_id), ]
  d$cid <- as.integer(factor(d$practice_id))
  # the tightest convergence tolerance geepack reaches (as in gee.R)
  for (eps in c(1e-12, 1e-11, 1e-10)) {
    fit <- geeglm(f, data = d, id = cid, family = binomial, corstr = "exchangeable",
                  control = geese.control(epsilon = eps, maxit = 1000))
    if (fit$geese$error == 0) break
  }
  stopifnot(fit$geese$error == 0)
  X <- model.matrix(f, d)
  beta <- coef(fit)
  covs <- corrected_covariances(X, d$bp_controlled__followup, d$cid, rep(0, nrow(d)), beta,
                                unname(fit$geese$alpha), unname(fit$geese$gamma), binomial())
  stopifnot(isTRUE(all.equal(unname(covs$robust), unname(fit$geese$vbeta), tolerance = 1e-8)))
  list(est = unname(beta["treatment"]), v = covs$kauermann_carroll["treatment", "treatment"],
       df = J - length(beta))
}
method <- "gee"
g <- kc_fit(full, cc)
se <- sqrt(g$v)
q <- qt(0.975, g$df)
add("complete_case", g$est, se, g$df, g$est - q * se, g$est + q * se,
    2 * pt(-abs(g$est / se), g$df), nrow(cc))
q_g <- list(); u_g <- list()
for (k in seq_len(m)) {
  g <- kc_fit(bp_controlled__followup ~ treatment, completed[completed$.imp == k, ])
  q_g[[k]] <- c(treatment = g$est)
  u_g[[k]] <- matrix(g$v, 1, 1, dimnames = list("treatment", "treatment"))
}
pool("unadjusted", q_g, u_g, g$df, n_all)

write.csv(do.call(rbind, rows), file.path(out_dir, "results.csv"), row.names = FALSE,
          quote = FALSE)
versions <- data.frame(
  package = c("R", "lme4", "mitml", "geepack"),
  version = c(paste(R.version$major, R.version$minor, sep = "."),
              as.character(packageVersion("lme4")), as.character(packageVersion("mitml")),
              as.character(packageVersion("geepack")))
)
write.csv(versions, file.path(out_dir, "versions.csv"), row.names = FALSE, quote = FALSE)
