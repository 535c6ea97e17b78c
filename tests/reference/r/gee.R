# Reference values for the GEE kernel (src/trial/stats/gee.py).
#
# Fits geepack::geeglm(..., corstr = "exchangeable") on the committed CSVs of
# tests/reference/data/glmm/ (binary and count outcomes) and on
# tests/reference/data/mixed/refocus.csv (a continuous outcome, Gaussian family), and records
# the estimates, the working correlation and scale, geepack's robust (sandwich) and naive
# covariances, and the bias-corrected sandwich covariances of Mancl and DeRouen (2001),
# Kauermann and Carroll (2001) and Fay and Graubard (2001).
#
# The bias corrections are NOT taken from a package: geesmv, saws and geeCRT cannot be installed
# here, so they are computed below from their published formulas, cluster by cluster with the
# full n_j x n_j matrices (V_j, H_jj = D_j B^-1 D_j' V_j^-1, (I - H_jj)^-1, the principal inverse
# square root of I - H_jj by eigen-decomposition, and Fay-Graubard's diagonal correction with
# b = 0.75), independently of the Python implementation (which uses per-cluster p x p
# identities instead). The same code's uncorrected sandwich is checked against geepack's vbeta
# before anything is written.
#
# boundary.csv is left out: its cluster totals are under-dispersed, the moment estimate of the
# exchangeable correlation is below -1 / (n_j - 1) for its larger clusters (the working
# correlation is not positive definite) and geeglm diverges (error code 1); the Python kernel
# raises an error there instead (tests/unit/test_stats_gee.py).
#
# Writes tests/reference/fixtures/gee/geeglm.csv with columns dataset, quantity, term, value;
# quantities: estimate, alpha, scale, epsilon (geepack's convergence tolerance), se_geepack (summary()'s std.err), cov_<kind> for kind in
# robust, naive, mancl_derouen, kauermann_carroll, fay_graubard (term = "row:col"), and for the
# arm coefficient under each corrected covariance t, p and CI limits on t with J - p df; for
# the binary fits the standardised risks (marginal_*, described below).
# The file starts with '#' comment lines recording the R and package versions.
#
# Run from the repository root:  Rscript tests/reference/r/gee.R

suppressPackageStartupMessages({
  library(geepack)
  library(numDeriv)
})

out_dir <- file.path("tests", "reference", "fixtures", "gee")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

versions <- c(
  R = R.version.string,
  geepack = as.character(packageVersion("geepack")),
  numDeriv = as.character(packageVersion("numDeriv"))
)

glmm_dir <- file.path("tests", "reference", "data", "glmm")
cases <- list(
  trial = list(file = file.path(glmm_dir, "trial.csv"), f = y ~ arm + stratum + x,
               family = binomial()),
  unequal = list(file = file.path(glmm_dir, "unequal.csv"), f = y ~ arm + stratum + x,
                 family = binomial()),
  rare = list(file = file.path(glmm_dir, "rare.csv"), f = y ~ arm + x, family = binomial()),
  counts = list(file = file.path(glmm_dir, "counts.csv"), f = y ~ arm + stratum + x,
                family = poisson(), offset = TRUE),
  refocus = list(file = file.path("tests", "reference", "data", "mixed", "refocus.csv"),
                 f = y ~ arm + baseline + stratum, family = gaussian())
)

rows <- list()
add <- function(dataset, quantity, term, value) {
  rows[[length(rows) + 1L]] <<- data.frame(
    dataset = dataset, quantity = quantity, term = term,
    value = sprintf("%.17g", as.numeric(value)), stringsAsFactors = FALSE
  )
}
add_matrix <- function(dataset, quantity, M, names) {
  add(dataset, quantity, as.vector(outer(names, names, paste, sep = ":")), as.vector(M))
}

# Bias-corrected sandwich covariances from the published formulas (see the header).
source(file.path("tests", "reference", "r", "gee_corrections.R"))

# Standardised risks from the binary GEE fits (src/trial/stats/marginal.py) by hand: the mean of
# plogis(x' beta) over the analysed individuals with arm set to 1 and to 0, the delta method with
# numDeriv's Jacobian and the Mancl-DeRouen covariance, t on J - p df; risk difference on the
# identity scale, risk and odds ratios on the log scale. quantities: marginal_<what>.
gee_standardised <- function(name, X, beta, V, df) {
  arm <- which(colnames(X) == "arm")
  X1 <- X
  X1[, arm] <- 1
  X0 <- X
  X0[, arm] <- 0
  both <- function(b) c(mean(plogis(drop(X1 %*% b))), mean(plogis(drop(X0 %*% b))))
  r <- both(beta)
  G <- numDeriv::jacobian(both, beta)
  add(name, "marginal_risk_treated", "", r[1])
  add(name, "marginal_risk_control", "", r[2])
  logit_g <- function(i) G[i, ] / (r[i] * (1 - r[i]))
  measures <- list(
    difference = list(value = r[1] - r[2], g = G[1, ] - G[2, ], log = FALSE),
    ratio = list(value = r[1] / r[2], g = G[1, ] / r[1] - G[2, ] / r[2], log = TRUE),
    odds_ratio = list(value = (r[1] / (1 - r[1])) / (r[2] / (1 - r[2])),
                      g = logit_g(1) - logit_g(2), log = TRUE)
  )
  for (k in names(measures)) {
    mm <- measures[[k]]
    se <- sqrt(drop(mm$g %*% V %*% mm$g))
    centre <- if (mm$log) log(mm$value) else mm$value
    ci <- centre + c(-1, 1) * qt(0.975, df) * se
    if (mm$log) ci <- exp(ci)
    add(name, paste0("marginal_", k, "_estimate"), "", mm$value)
    add(name, paste0("marginal_", k, "_se"), "", se)
    add(name, paste0("marginal_", k, "_ci_low"), "", ci[1])
    add(name, paste0("marginal_", k, "_ci_high"), "", ci[2])
  }
}

for (name in names(cases)) {
  spec <- cases[[name]]
  d <- read.csv(spec$file, stringsAsFactors = FALSE)
  d$id <- match(d$cluster, unique(d$cluster))  # geeglm needs contiguous clusters: they are
  d$off <- if (isTRUE(spec$offset)) log(d$exposure) else 0
  # the tightest convergence tolerance geepack reaches (rounding stops it below ~1e-12)
  for (eps in c(1e-12, 1e-11, 1e-10)) {
    fit <- geeglm(spec$f, id = id, data = d, family = spec$family, corstr = "exchangeable",
                  offset = off, control = geese.control(epsilon = eps, maxit = 1000))
    if (fit$geese$error == 0) break
  }
  stopifnot(fit$geese$error == 0)
  add(name, "epsilon", "", eps)
  terms <- names(coef(fit))
  X <- model.matrix(spec$f, d)
  beta <- coef(fit)
  alpha <- unname(fit$geese$alpha)
  phi <- unname(fit$geese$gamma)
  add(name, "estimate", terms, beta)
  add(name, "alpha", "", alpha)
  add(name, "scale", "", phi)
  add(name, "se_geepack", terms, summary(fit)$coefficients[, "Std.err"])
  add_matrix(name, "cov_robust", fit$geese$vbeta, terms)
  add_matrix(name, "cov_naive", fit$geese$vbeta.naiv, terms)
  covs <- corrected_covariances(X, d$y, d$id, d$off, beta, alpha, phi, spec$family)
  # the hand-written sandwich must reproduce geepack's before its corrections are trusted
  stopifnot(isTRUE(all.equal(unname(covs$robust), unname(fit$geese$vbeta), tolerance = 1e-8)))
  J <- length(unique(d$id))
  df <- J - length(beta)
  k <- which(terms == "arm")
  for (kind in c("mancl_derouen", "kauermann_carroll", "fay_graubard")) {
    add_matrix(name, paste0("cov_", kind), covs[[kind]], terms)
    se <- sqrt(covs[[kind]][k, k])
    t <- beta[k] / se
    add(name, paste0("t_", kind), "arm", t)
    add(name, paste0("p_", kind), "arm", 2 * pt(-abs(t), df))
    add(name, paste0("ci_low_", kind), "arm", beta[k] - qt(0.975, df) * se)
    add(name, paste0("ci_high_", kind), "arm", beta[k] + qt(0.975, df) * se)
  }
  if (identical(spec$family$family, "binomial")) {
    gee_standardised(name, X, beta, covs$mancl_derouen, df)
  }
}

out <- do.call(rbind, rows)
path <- file.path(out_dir, "geeglm.csv")
con <- file(path, "w")
writeLines(sprintf("# generated by tests/reference/r/gee.R on %s", Sys.Date()), con)
for (k in names(versions)) writeLines(sprintf("# %s: %s", k, versions[[k]]), con)
write.csv(out, con, row.names = FALSE)
close(con)
cat("wrote", path, "\n")
