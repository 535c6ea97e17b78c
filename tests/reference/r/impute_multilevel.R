# Reference values for src/trial/stats/impute/multilevel.py: multilevel (random-intercept) normal
# imputation by R, then the trial's analysis model pooled by Rubin's rules.
#
# Reads tests/reference/data/impute/trial_like.csv (made by make_trial_like.py there), or the
# CSV named as the first argument, and writes to tests/reference/fixtures/impute/ (or the
# directory named as the second argument):
#   trial_like_pooled.csv     one row per imputation method: m, pooled arm effect (qbar),
#                             within- (ubar), between- (b) and total (t) variance, the
#                             Monte Carlo SE of qbar, sqrt(b / m)
#   trial_like_per_imputation.csv  arm estimate and its variance in each imputed dataset
#   trial_like_versions.csv   R and package versions
# Methods:
#   mice_2l.pan   mice(method = "2l.pan"): y on intercept + arm + baseline + stratum (fixed)
#                 with a random cluster intercept; pan's default prior as set by mice;
#                 m = 50, maxit = 5 (y is the only incomplete variable, so each iteration is
#                 a fresh pan run of 500 Gibbs cycles and the chain needs no further burn-in)
#   jomo1rancon   jomo::jomo1rancon with the same fixed effects and a random intercept,
#                 default priors, nburn = 2000, nbetween = 500, nimp = 50
#   mice_2l.pan_means, jomo1rancon_means
#                 the same with the cluster mean of baseline as a further fixed effect (mice:
#                 predictorMatrix code 3; jomo: the mean computed here as a column of X), as the
#                 pipeline's multilevel engine adds the cluster means of a score's level-1
#                 predictors
# Analysis model in each completed dataset: lme4::lmer(y ~ arm + baseline + stratum +
# (1 | cluster)), REML; the arm coefficient and its model-based variance (vcov) are pooled
# by Rubin's rules.
# Run from the repository root:  Rscript tests/reference/r/impute_multilevel.R
# Numbers are written with 17 significant digits so that they round-trip exactly.

suppressPackageStartupMessages({
  library(mice)
  library(pan)
  library(jomo)
  library(lme4)
})

args <- commandArgs(trailingOnly = TRUE)
in_csv <- if (length(args) >= 1) args[1] else
  file.path("tests", "reference", "data", "impute", "trial_like.csv")
out_dir <- if (length(args) >= 2) args[2] else
  file.path("tests", "reference", "fixtures", "impute")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
M <- 50
SEED <- 20240527

num <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))
write_fixture <- function(df, name) {
  for (col in names(df)) if (is.numeric(df[[col]])) df[[col]] <- num(df[[col]])
  write.csv(df, file.path(out_dir, name), row.names = FALSE, quote = FALSE)
}

raw <- read.csv(in_csv, stringsAsFactors = FALSE)
# pan needs a numeric cluster identifier; sorted codes, as in the Python engine
raw$clus <- match(raw$cluster, sort(unique(raw$cluster)))
dat <- raw[, c("clus", "arm", "baseline", "stratum", "y")]

fit_arm <- function(d) {
  fit <- lmer(y ~ arm + baseline + stratum + (1 | clus), data = d, REML = TRUE)
  c(est = unname(fixef(fit)["arm"]), var = vcov(fit)["arm", "arm"])
}
rubin <- function(per) {
  m <- nrow(per)
  qbar <- mean(per[, "est"])
  ubar <- mean(per[, "var"])
  b <- var(per[, "est"])
  data.frame(m = m, qbar = qbar, ubar = ubar, b = b, t = ubar + (1 + 1 / m) * b,
             mcse = sqrt(b / m))
}

# ---- mice 2l.pan --------------------------------------------------------------------------
ini <- mice(dat, maxit = 0, print = FALSE)
meth <- ini$method
meth[] <- ""
meth["y"] <- "2l.pan"
pred <- ini$predictorMatrix
pred[, ] <- 0
pred["y", c("arm", "baseline", "stratum")] <- 1
pred["y", "clus"] <- -2
imp <- mice(dat, m = M, maxit = 5, method = meth, predictorMatrix = pred,
            seed = SEED, print = FALSE)
per_mice <- t(sapply(seq_len(M), function(i) fit_arm(complete(imp, i))))

# ---- jomo1rancon --------------------------------------------------------------------------
set.seed(SEED)
Y <- data.frame(y = dat$y)
X <- data.frame(int = 1, arm = dat$arm, baseline = dat$baseline, stratum = dat$stratum)
Z <- data.frame(int = rep(1, nrow(dat)))
jimp <- jomo1rancon(Y = Y, X = X, Z = Z, clus = dat$clus, nburn = 2000, nbetween = 500,
                    nimp = M, output = 0)
per_jomo <- t(sapply(seq_len(M), function(i) {
  d <- jimp[jimp$Imputation == i, ]
  fit_arm(data.frame(y = d$y, arm = d$arm, baseline = d$baseline, stratum = d$stratum,
                     clus = d$clus))
}))

# ---- the same with the cluster mean of baseline ---------------------------------------------
pred_means <- pred
pred_means["y", "baseline"] <- 3   # fixed effect and cluster mean
imp_means <- mice(dat, m = M, maxit = 5, method = meth, predictorMatrix = pred_means,
                  seed = SEED + 1, print = FALSE)
per_mice_means <- t(sapply(seq_len(M), function(i) fit_arm(complete(imp_means, i))))

set.seed(SEED + 1)
X_means <- cbind(X, baseline_mean = ave(dat$baseline, dat$clus))
jimp_means <- jomo1rancon(Y = Y, X = X_means, Z = Z, clus = dat$clus, nburn = 2000,
                          nbetween = 500, nimp = M, output = 0)
per_jomo_means <- t(sapply(seq_len(M), function(i) {
  d <- jimp_means[jimp_means$Imputation == i, ]
  fit_arm(data.frame(y = d$y, arm = d$arm, baseline = d$baseline, stratum = d$stratum,
                     clus = d$clus))
}))

# ---- complete cases (for orientation only) ------------------------------------------------
cc <- fit_arm(dat[!is.na(dat$y), ])

pooled <- rbind(
  cbind(method = "mice_2l.pan", rubin(per_mice)),
  cbind(method = "jomo1rancon", rubin(per_jomo)),
  cbind(method = "mice_2l.pan_means", rubin(per_mice_means)),
  cbind(method = "jomo1rancon_means", rubin(per_jomo_means)),
  data.frame(method = "complete_case", m = 1, qbar = cc[["est"]], ubar = cc[["var"]],
             b = 0, t = cc[["var"]], mcse = 0)
)
write_fixture(pooled, "trial_like_pooled.csv")
write_fixture(rbind(
  data.frame(method = "mice_2l.pan", imputation = seq_len(M), est = per_mice[, "est"],
             var = per_mice[, "var"]),
  data.frame(method = "jomo1rancon", imputation = seq_len(M), est = per_jomo[, "est"],
             var = per_jomo[, "var"]),
  data.frame(method = "mice_2l.pan_means", imputation = seq_len(M),
             est = per_mice_means[, "est"], var = per_mice_means[, "var"]),
  data.frame(method = "jomo1rancon_means", imputation = seq_len(M),
             est = per_jomo_means[, "est"], var = per_jomo_means[, "var"])
), "trial_like_per_imputation.csv")
write.csv(data.frame(
  software = c("R", "mice", "pan", "jomo", "lme4"),
  version = c(paste(R.version$major, R.version$minor, sep = "."),
              as.character(packageVersion("mice")), as.character(packageVersion("pan")),
              as.character(packageVersion("jomo")), as.character(packageVersion("lme4")))
), file.path(out_dir, "trial_like_versions.csv"), row.names = FALSE, quote = FALSE)
print(pooled)
