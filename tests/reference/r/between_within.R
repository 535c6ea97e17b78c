# Reference values for the between-within df and multi-df F tests of src/trial/stats/mixed/.
#
# R has no between-within method (SAS DDFM=BETWITHIN), so this script computes it from its
# definition, independently of the Python code, on the models of mixed_models.R:
#   * df per coefficient: the rule of Schluchter and Elashoff (1990) in the multilevel form of
#     the module docstring, df_g = N_g - (N_{g-1} + p_g): N_0 the rank of the columns constant
#     overall (1 with an intercept), N_1 the clusters, N_2 the nested subgroups (nested model
#     only), then the observations; p_g the rank a level's columns add to the coarser ones. A
#     column's level is the finest grouping within which it varies (cluster-level columns get
#     df_1, the intercept too; a column varying within the finest grouping gets the last df).
#   * F test of L beta = 0 (rows of L pick coefficients): the Wald statistic with lme4's vcov
#     divided by q = rank(L); it is lmerTest's contestMD "F value" (recorded, the df method does
#     not change it) and is cross-checked here against the Wald form computed directly. Its
#     denominator df is the smallest between-within df of the coefficients involved, and
#     p = pf(F, q, den_df, lower.tail = FALSE).
# Writes tests/reference/fixtures/mixed/between_within.csv (long format: dataset, fit, quantity,
# term, value; '#' header lines record the versions).
# Run from the repository root:  Rscript tests/reference/r/between_within.R

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
})

data_dir <- file.path("tests", "reference", "data", "mixed")
out_path <- file.path("tests", "reference", "fixtures", "mixed", "between_within.csv")
ctrl <- lmerControl(
  optimizer = "nloptwrap",
  optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-15, xtol_rel = 1e-12, ftol_rel = 1e-15,
                 maxeval = 100000),
  check.conv.singular = "ignore"
)

rows <- list()
add <- function(dataset, fit, quantity, term, value) {
  rows[[length(rows) + 1L]] <<- data.frame(
    dataset = dataset, fit = fit, quantity = quantity, term = term,
    value = sprintf("%.17g", as.numeric(value)), stringsAsFactors = FALSE
  )
}

# finest grouping within which a column varies: 0 overall constant, 1 constant within
# clusters, 2 constant within subgroups (nested only), else the observation level
column_level <- function(x, groupings) {
  tol <- 1e-10 * max(abs(x))
  constant_within <- function(g) all(tapply(x, g, function(v) max(v) - min(v)) <= tol)
  if (max(x) - min(x) <= tol) return(0L)
  for (lev in seq_along(groupings)) if (constant_within(groupings[[lev]])) return(lev)
  length(groupings) + 1L
}

between_within_df <- function(X, groupings) {
  levels <- apply(X, 2, column_level, groupings = groupings)
  last <- length(groupings) + 1L
  rank_upto <- sapply(0:last, function(g) {
    cols <- which(levels <= g)
    if (length(cols) == 0) 0L else qr(scale(X[, cols, drop = FALSE], center = FALSE))$rank
  })
  N <- c(rank_upto[1], sapply(groupings, function(g) length(unique(g))), nrow(X))
  df_level <- numeric(last + 1L)
  for (g in 1:last) {
    p_g <- rank_upto[g + 1L] - rank_upto[g]
    df_level[g + 1L] <- N[g + 1L] - (N[g] + p_g)
  }
  df_level[1] <- df_level[2]
  setNames(df_level[levels + 1L], colnames(X))
}

record <- function(dataset, fit_label, m, groupings, tests) {
  X <- getME(m, "X")
  bw <- between_within_df(X, groupings)
  add(dataset, fit_label, "df_between_within", names(bw), bw)
  beta <- fixef(m)
  V <- as.matrix(vcov(m))
  for (nm in names(tests)) {
    L <- matrix(0, length(tests[[nm]]), length(beta))
    for (i in seq_along(tests[[nm]])) L[i, match(tests[[nm]][i], names(beta))] <- 1
    q <- qr(L)$rank
    Lb <- L %*% beta
    wald_F <- as.numeric(t(Lb) %*% solve(L %*% V %*% t(L), Lb)) / q
    F_value <- contestMD(m, L, ddf = "Satterthwaite")[["F value"]]
    stopifnot(abs(F_value / wald_F - 1) < 1e-10)
    den_df <- min(bw[tests[[nm]]])
    quantity <- paste0("F_", nm, "_between_within")
    add(dataset, fit_label, quantity, "F", F_value)
    add(dataset, fit_label, quantity, "num_df", q)
    add(dataset, fit_label, quantity, "den_df", den_df)
    add(dataset, fit_label, quantity, "p", pf(F_value, q, den_df, lower.tail = FALSE))
  }
}

fit_both <- function(dataset, formula, data, groupings, tests) {
  for (reml in c(TRUE, FALSE)) {
    m <- lmer(formula, data = data, REML = reml, control = ctrl)
    record(dataset, if (reml) "REML" else "ML", m, groupings, tests)
  }
}

refocus <- read.csv(file.path(data_dir, "refocus.csv"))
fit_both("refocus", y ~ arm + baseline + stratum + (1 | cluster), refocus,
         list(refocus$cluster),
         list(arm_stratum = c("arm", "stratum"), all_slopes = c("arm", "baseline", "stratum")))

boundary <- read.csv(file.path(data_dir, "boundary.csv"))
fit_both("boundary", y ~ arm + x + (1 | cluster), boundary, list(boundary$cluster),
         list(arm_x = c("arm", "x")))

unbalanced <- read.csv(file.path(data_dir, "unbalanced.csv"))
fit_both("unbalanced", y ~ x1 + x2 + z + (1 | cluster), unbalanced, list(unbalanced$cluster),
         list(x1_x2 = c("x1", "x2"), x1_z = c("x1", "z")))

nls <- read.csv(file.path(data_dir, "nlschools.csv"))
nls$class <- as.character(nls$class)
fit_both("nlschools", lang ~ IQ + SES + COMB + GS + (1 | class), nls, list(nls$class),
         list(comb_gs = c("COMB", "GS"), iq_ses = c("IQ", "SES"), iq_gs = c("IQ", "GS")))

nested <- read.csv(file.path(data_dir, "nested.csv"))
nested$time <- factor(nested$time)
fit_both("nested", y ~ arm * time + (1 | team) + (1 | team:consumer), nested,
         list(nested$team, paste(nested$team, nested$consumer)),
         list(arm_time = paste0("arm:time", 1:4), arm_time1 = c("arm", "time1")))

# a consumer-level covariate (constant within consumer, varying within team): the middle level
nested$cons <- as.integer(substr(nested$consumer, 2, 3)) %% 3
fit_both("nested_covariate", y ~ arm * time + cons + (1 | team) + (1 | team:consumer), nested,
         list(nested$team, paste(nested$team, nested$consumer)),
         list(arm_cons = c("arm", "cons"), cons_time1 = c("cons", "time1")))

versions <- c(
  R = R.version.string,
  lme4 = as.character(packageVersion("lme4")),
  lmerTest = as.character(packageVersion("lmerTest"))
)
con <- file(out_path, "w")
writeLines(sprintf("# generated by tests/reference/r/between_within.R on %s", format(Sys.Date())),
           con)
for (nm in names(versions)) writeLines(sprintf("# %s: %s", nm, versions[[nm]]), con)
close(con)
suppressWarnings(write.table(do.call(rbind, rows), out_path, sep = ",", row.names = FALSE,
                             col.names = TRUE, append = TRUE, quote = TRUE))
cat("fixture written to", out_path, "\n")
