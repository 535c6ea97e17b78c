# Reference values for the random-intercept GLMM kernel (src/trial/stats/glmm.py).
#
# Reads the committed CSVs in tests/reference/data/glmm/ (made by make_data.py there), fits
#   y ~ <terms> + (1 | cluster)
# with lme4::glmer (binomial logit; Poisson log with offset(log(exposure)) for counts) at
# nAGQ = 1 (Laplace) and nAGQ = 10 (and 25 for one dataset), and writes the long-format fixture
# tests/reference/fixtures/glmm/glmer.csv with columns
#   dataset, nagq, quantity, term, value
# quantities: estimate, se (vcov(), from lme4's finite-difference Hessian), theta, variance,
# loglik, singular (isSingular()), cov_full (2 * solve(Hessian) in lme4's parameter order
# theta, beta; term = "row:col"), ranef (conditional modes), max_grad (largest absolute
# gradient of the deviance at the optimum, a check of the reference optimum), tol_pwrss, and
# the standardised risks of the binary fits at nAGQ = 10 (marginal_*, described below).
# The file starts with '#' comment lines recording the R and package versions.
#
# Run from the repository root:  Rscript tests/reference/r/glmm.R

suppressPackageStartupMessages({
  library(lme4)
  library(numDeriv)
})

data_dir <- file.path("tests", "reference", "data", "glmm")
out_dir <- file.path("tests", "reference", "fixtures", "glmm")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

versions <- c(
  R = R.version.string,
  lme4 = as.character(packageVersion("lme4")),
  numDeriv = as.character(packageVersion("numDeriv")),
  Matrix = as.character(packageVersion("Matrix")),
  nloptr = as.character(packageVersion("nloptr"))
)

# Tight tolerances for both optimisation stages and for the inner PIRLS iterations, so that the
# reference optimum is accurate to well below the tolerances the Python tests use. The PIRLS
# tolerance matters for nAGQ = 1: lme4 evaluates the Laplace term at the mode PIRLS stops at, so
# with the default tolPwrss (1e-7), or even 1e-12, the deviance carries an error of ~1e-6 that its
# finite-difference Hessian (step 1e-4) turns into standard errors wrong in the third digit
# (Poisson example here); at 1e-14 the deviance is exact to rounding error. When PIRLS cannot
# reach 1e-14 (step-halving failures on some datasets), the next looser tolerance is used; the
# fixture records the tolerance of each fit (quantity tol_pwrss).
control <- function(tol) {
  glmerControl(
    optimizer = c("nloptwrap", "nloptwrap"),
    optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-15, xtol_rel = 1e-12, ftol_rel = 1e-15,
                   maxeval = 100000),
    tolPwrss = tol,
    check.conv.singular = "ignore"
  )
}
fit_tight <- function(f, d, family, agq) {
  for (tol in c(1e-14, 1e-13, 1e-12)) {
    m <- tryCatch(glmer(f, data = d, family = family, nAGQ = agq, control = control(tol)),
                  error = function(e) NULL)
    if (!is.null(m)) return(list(m = m, tol = tol))
  }
  stop("glmer failed at every PIRLS tolerance")
}

models <- list(
  trial = list(f = y ~ arm + stratum + x + (1 | cluster), family = binomial, agq = c(1, 10, 25)),
  boundary = list(f = y ~ arm + x + (1 | cluster), family = binomial, agq = c(1, 10)),
  unequal = list(f = y ~ arm + stratum + x + (1 | cluster), family = binomial, agq = c(1, 10)),
  rare = list(f = y ~ arm + x + (1 | cluster), family = binomial, agq = c(1, 10)),
  counts = list(f = y ~ arm + stratum + x + offset(log(exposure)) + (1 | cluster),
                family = poisson, agq = c(1, 10))
)

rows <- list()
add <- function(dataset, nagq, quantity, term, value) {
  rows[[length(rows) + 1L]] <<- data.frame(
    dataset = dataset, nagq = nagq, quantity = quantity, term = term,
    value = sprintf("%.17g", as.numeric(value)), stringsAsFactors = FALSE
  )
}

# ---------------------------------------------------------------------------------------------
# Standardised (marginal) risks from the binomial fits at nAGQ = 10 (src/trial/stats/marginal.py),
# written out by hand: every individual's design with arm set to 1 and to 0, the predicted risk
# integrated over the random intercept with integrate() (random_effects = "integrated") or at a
# random intercept of 0 ("zero"), averaged; delta-method standard errors from numDeriv's
# Jacobian and lme4's covariance of (theta, beta) (2 * solve(Hessian)); t intervals on the
# between-within df of the arm coefficient (clusters minus cluster-level columns); risk
# difference on the identity scale, risk and odds ratios on the log scale.
# quantities: marginal_<re>_<what>, re in integrated, zero.
standardised <- function(name, m, d, X, V, df) {
  arm <- which(colnames(X) == "arm")
  X1 <- X
  X1[, arm] <- 1
  X0 <- X
  X0[, arm] <- 0
  risk <- function(par, Xa, re) {
    eta <- drop(Xa %*% par[-1])
    if (re == "zero") return(mean(plogis(eta)))
    f <- function(z) vapply(z, function(zz) mean(plogis(eta + par[1] * zz)), 0) * dnorm(z)
    integrate(f, -Inf, Inf, rel.tol = 1e-12, abs.tol = 0)$value
  }
  par <- c(getME(m, "theta"), fixef(m))
  q <- qt(0.975, df)
  for (re in c("integrated", "zero")) {
    both <- function(par) c(risk(par, X1, re), risk(par, X0, re))
    r <- both(par)
    G <- numDeriv::jacobian(both, par)
    key <- function(what) paste("marginal", re, what, sep = "_")
    add(name, 10, key("risk_treated"), "", r[1])
    add(name, 10, key("risk_control"), "", r[2])
    add(name, 10, key("se_treated"), "", sqrt(drop(G[1, ] %*% V %*% G[1, ])))
    add(name, 10, key("se_control"), "", sqrt(drop(G[2, ] %*% V %*% G[2, ])))
    measures <- list(
      difference = list(value = r[1] - r[2], g = G[1, ] - G[2, ], log = FALSE),
      ratio = list(value = r[1] / r[2], g = G[1, ] / r[1] - G[2, ] / r[2], log = TRUE),
      odds_ratio = list(value = (r[1] / (1 - r[1])) / (r[2] / (1 - r[2])),
                        g = G[1, ] / (r[1] * (1 - r[1])) - G[2, ] / (r[2] * (1 - r[2])),
                        log = TRUE)
    )
    for (k in names(measures)) {
      mm <- measures[[k]]
      se <- sqrt(drop(mm$g %*% V %*% mm$g))
      centre <- if (mm$log) log(mm$value) else mm$value
      ci <- centre + c(-1, 1) * q * se
      if (mm$log) ci <- exp(ci)
      add(name, 10, key(paste0(k, "_estimate")), "", mm$value)
      add(name, 10, key(paste0(k, "_se")), "", se)
      add(name, 10, key(paste0(k, "_ci_low")), "", ci[1])
      add(name, 10, key(paste0(k, "_ci_high")), "", ci[2])
      add(name, 10, key(paste0(k, "_p")), "", 2 * pt(-abs(centre / se), df))
    }
  }
}

# between-within df of a cluster-level coefficient: clusters minus the rank of the columns that
# are constant within every cluster
cluster_level_df <- function(X, cluster) {
  within <- apply(X, 2, function(col) all(tapply(col, cluster, function(v) diff(range(v))) == 0))
  length(unique(cluster)) - qr(X[, within, drop = FALSE])$rank
}

for (name in names(models)) {
  spec <- models[[name]]
  d <- read.csv(file.path(data_dir, paste0(name, ".csv")), stringsAsFactors = FALSE)
  for (agq in spec$agq) {
    ft <- fit_tight(spec$f, d, spec$family, agq)
    m <- ft$m
    add(name, agq, "tol_pwrss", "", ft$tol)
    terms <- names(fixef(m))
    add(name, agq, "estimate", terms, fixef(m))
    add(name, agq, "se", terms, sqrt(diag(as.matrix(vcov(m)))))
    add(name, agq, "theta", "cluster", getME(m, "theta"))
    add(name, agq, "variance", "cluster", as.data.frame(VarCorr(m))$vcov)
    add(name, agq, "loglik", "", as.numeric(logLik(m)))
    add(name, agq, "singular", "", as.numeric(isSingular(m)))
    H <- m@optinfo$derivs$Hessian
    V <- tryCatch(2 * solve(H), error = function(e) matrix(NA_real_, nrow(H), ncol(H)))
    pn <- c("theta", terms)
    add(name, agq, "cov_full", as.vector(outer(pn, pn, paste, sep = ":")), as.vector(V))
    re <- ranef(m)$cluster
    add(name, agq, "ranef", rownames(re), re[, 1])
    add(name, agq, "max_grad", "", max(abs(m@optinfo$derivs$gradient)))
    if (agq == 10 && name %in% c("trial", "unequal", "rare")) {
      X <- getME(m, "X")
      standardised(name, m, d, X, V, cluster_level_df(X, d$cluster))
    }
  }
}

out <- do.call(rbind, rows)
path <- file.path(out_dir, "glmer.csv")
con <- file(path, "w")
writeLines(sprintf("# generated by tests/reference/r/glmm.R on %s", Sys.Date()), con)
for (k in names(versions)) writeLines(sprintf("# %s: %s", k, versions[[k]]), con)
write.csv(out, con, row.names = FALSE)
close(con)
cat("wrote", path, "\n")
