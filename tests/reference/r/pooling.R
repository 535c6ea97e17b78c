# Reference values for src/trial/stats/pooling.py, from mitml and mice.
#
# Reads the committed inputs in tests/reference/data/pooling/ (made by make_data.py there)
# and writes tests/reference/fixtures/pooling/:
#   rubin_mitml.csv  mitml::testEstimates(qhat, uhat, df.com = ...) per scalar case, with
#                    its 95% confidence interval (confint)
#   rubin_mice.csv   mice::pool.scalar(Q, U, n = df_complete + 1, k = 1) per scalar case
#                    (pool.scalar takes dfcom = n - k; n = Inf for the large-sample case)
#   d1_mitml.csv     D1 with Reiter's df: mitml's D1 routine, the one testModels(method =
#                    "D1", df.com = ...) calls, applied to the raw estimates/covariances, and
#                    mitml::testConstraints(qhat, uhat, constraints = "b1", ..., method = "D1",
#                    df.com = ...), the exported raw-input interface (its numerical
#                    derivative of the identity constraints adds ~1e-9 relative noise)
#   versions.csv     R, mitml and mice versions
# Run from the repository root:  Rscript tests/reference/r/pooling.R
# Numbers are written with 17 significant digits so that they round-trip exactly.

suppressPackageStartupMessages({
  library(mitml)
  library(mice)
})

data_dir <- file.path("tests", "reference", "data", "pooling")
out_dir <- file.path("tests", "reference", "fixtures", "pooling")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

num <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))
write_fixture <- function(df, name) {
  for (col in names(df)) if (is.numeric(df[[col]])) df[[col]] <- num(df[[col]])
  write.csv(df, file.path(out_dir, name), row.names = FALSE, quote = FALSE)
}
read_input <- function(name) {
  read.csv(file.path(data_dir, name), stringsAsFactors = FALSE,
           colClasses = c(case = "character"))
}
df_com_or_null <- function(x) if (is.finite(x)) x else NULL

# ---- scalar pooling -----------------------------------------------------------------------
cases <- read_input("scalar_cases.csv")
cases$df_complete <- as.numeric(cases$df_complete)
mitml_rows <- list()
mice_rows <- list()
for (i in seq_len(nrow(cases))) {
  cs <- cases$case[i]
  dfc <- cases$df_complete[i]
  d <- read.csv(file.path(data_dir, paste0("scalar_", cs, ".csv")))
  m <- nrow(d)
  stopifnot(m == cases$m[i])

  # lists of named estimates and 1 x 1 covariance matrices (a bare scalar variance would be
  # passed through diag(), which turns a number below 1 into a 0 x 0 matrix)
  qhat <- lapply(d$estimate, function(x) c(theta = x))
  uhat <- lapply(d$variance, function(x) matrix(x, 1, 1, dimnames = list("theta", "theta")))
  te <- testEstimates(qhat = qhat, uhat = uhat, df.com = df_com_or_null(dfc))
  est <- te$estimates
  ci <- confint(te, level = 0.95)
  mitml_rows[[i]] <- data.frame(
    case = cs, m = m, df_complete = dfc,
    estimate = est[1, "Estimate"], se = est[1, "Std.Error"], t = est[1, "t.value"],
    df = est[1, "df"], p = est[1, "P(>|t|)"],
    # same t and df, upper tail computed without cancellation
    p_accurate = 2 * pt(abs(est[1, "t.value"]), est[1, "df"], lower.tail = FALSE),
    riv = est[1, "RIV"], fmi = est[1, "FMI"],
    ci_low = ci[1, 1], ci_high = ci[1, 2],
    stringsAsFactors = FALSE
  )

  ps <- pool.scalar(Q = d$estimate, U = d$variance,
                    n = if (is.finite(dfc)) dfc + 1 else Inf, k = 1)
  mice_rows[[i]] <- data.frame(
    case = cs, m = m, df_complete = dfc,
    estimate = ps$qbar, within = ps$ubar, between = ps$b, total = ps$t,
    se = sqrt(ps$t), df = ps$df, riv = ps$r, fmi = ps$fmi,
    lambda = (1 + 1 / m) * ps$b / ps$t,
    # mice floors lambda at 1e-4 inside its Barnard-Rubin df
    lambda_floored = (1 + 1 / m) * ps$b / ps$t < 1e-4,
    stringsAsFactors = FALSE
  )
}
write_fixture(do.call(rbind, mitml_rows), "rubin_mitml.csv")
write_fixture(do.call(rbind, mice_rows), "rubin_mice.csv")

# ---- D1 -----------------------------------------------------------------------------------
d1_cases <- read_input("d1_cases.csv")
d1_cases$df_complete <- as.numeric(d1_cases$df_complete)
d1_rows <- list()
for (i in seq_len(nrow(d1_cases))) {
  cs <- d1_cases$case[i]
  dfc <- d1_cases$df_complete[i]
  k <- d1_cases$k[i]
  e <- read.csv(file.path(data_dir, paste0("d1_", cs, "_estimates.csv")))
  v <- read.csv(file.path(data_dir, paste0("d1_", cs, "_covariances.csv")))
  m <- nrow(e)
  nms <- paste0("b", seq_len(k))
  Qhat <- t(as.matrix(e[, nms, drop = FALSE]))  # k x m, as mitml stores it
  Uhat <- array(NA_real_, dim = c(k, k, m))  # k x k x m
  for (r in seq_len(nrow(v))) Uhat[v$row[r], v$col[r], v$imputation[r]] <- v$value[r]
  stopifnot(!anyNA(Uhat))

  D <- mitml:::.D1(Qhat = Qhat, Uhat = Uhat, df.com = df_com_or_null(dfc))
  p <- pf(D$F, D$k, D$v, lower.tail = FALSE)

  qhat_list <- lapply(seq_len(m), function(j) setNames(Qhat[, j], nms))
  uhat_list <- lapply(seq_len(m), function(j) {
    matrix(Uhat[, , j], k, k, dimnames = list(nms, nms))
  })
  # for the cases where Reiter's df is undefined or not positive, mitml still returns a number
  # (recorded as is) or fails (NA)
  tc <- tryCatch(
    testConstraints(qhat = qhat_list, uhat = uhat_list, constraints = nms,
                    method = "D1", df.com = df_com_or_null(dfc))$test,
    error = function(e) matrix(NA_real_, 1, 4,
                               dimnames = list(NULL, c("F.value", "df2", "P(>F)", "RIV")))
  )

  d1_rows[[i]] <- data.frame(
    case = cs, m = m, k = k, df_complete = dfc,
    F = as.numeric(D$F), num_df = D$k, den_df = D$v, p = p, riv = D$r,
    tc_F = tc[1, "F.value"], tc_den_df = tc[1, "df2"], tc_p = tc[1, "P(>F)"],
    tc_riv = tc[1, "RIV"],
    stringsAsFactors = FALSE
  )
}
write_fixture(do.call(rbind, d1_rows), "d1_mitml.csv")

versions <- data.frame(
  software = c("R", "mitml", "mice"),
  version = c(paste(R.version$major, R.version$minor, sep = "."),
              as.character(packageVersion("mitml")),
              as.character(packageVersion("mice"))),
  stringsAsFactors = FALSE
)
write.csv(versions, file.path(out_dir, "versions.csv"), row.names = FALSE, quote = FALSE)
cat("wrote fixtures to", out_dir, "\n")
