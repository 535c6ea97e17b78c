# Reference values for the audit's binary model (trial.analyses.audit.binary.fit_binary_model).
#
# Reads tests/reference/data/audit/audit_long.csv (made by make_data.py there) and fits, to the
# 0/1 item values_documented, geepack::geeglm(y ~ treatment + trust2gether + t2..t7 + a2..a7,
# family = binomial, id = team, corstr = "exchangeable"): arm, stratum, audit-time indicators
# and arm x audit-time indicators, the team as the cluster. geepack gives the estimates, the
# working correlation, the scale and the uncorrected sandwich; the bias-corrected sandwich
# covariances of Kauermann and Carroll (2001) and Mancl and DeRouen (2001) are computed below
# from their published formulas with each team's full n_j x n_j matrices (H_jj =
# D_j B^-1 D_j' V_j^-1; (I - H_jj)^-1/2 by eigen-decomposition), after checking that the same
# code reproduces geepack's sandwich. From the Kauermann-Carroll covariance, with t on
# teams - coefficients df:
#   or_final      exp(treatment + a7) and its interval (log scale)
#   did           exp(a7 - a2 / 2): final time point against the mean of the pre-intervention
#                 time points 1 and 2 (a1 = 0)
#   rd_final      risk difference at time 7 standardised over the records audited at time 7
#                 (treatment and a7 set to 1, then 0; mean of plogis), delta method with
#                 numDeriv's Jacobian, identity-scale interval
#   wald          F = W / 6 of a2..a7 on (6, df)
# Writes tests/reference/fixtures/audit/audit_binary.csv with columns quantity, term, value,
# after '#' lines recording the R and package versions.
# Run from the repository root:  Rscript tests/reference/r/audit_binary.R

suppressPackageStartupMessages({
  library(geepack)
  library(numDeriv)
})

data_dir <- file.path("tests", "reference", "data", "audit")
out_dir <- file.path("tests", "reference", "fixtures", "audit")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
versions <- c(
  R = R.version.string,
  geepack = as.character(packageVersion("geepack")),
  numDeriv = as.character(packageVersion("numDeriv"))
)

d <- read.csv(file.path(data_dir, "audit_long.csv"), stringsAsFactors = FALSE)
d <- d[order(d$team_id), ]  # geeglm needs each cluster's rows together
d$id <- match(d$team_id, unique(d$team_id))
later <- sort(unique(d$audit_time))[-1]
for (t in later) {
  d[[paste0("t", t)]] <- as.numeric(d$audit_time == t)
  d[[paste0("a", t)]] <- d$treatment * as.numeric(d$audit_time == t)
}
d$trust2gether <- as.numeric(d$trust == "2gether")
d$y <- d$values_documented
f <- as.formula(paste("y ~ treatment + trust2gether +",
                      paste(c(paste0("t", later), paste0("a", later)), collapse = " + ")))

for (eps in c(1e-12, 1e-11, 1e-10)) {
  fit <- geeglm(f, id = id, data = d, family = binomial(), corstr = "exchangeable",
                control = geese.control(epsilon = eps, maxit = 1000))
  if (fit$geese$error == 0) break
}
stopifnot(fit$geese$error == 0)
X <- model.matrix(f, d)
beta <- coef(fit)
alpha <- unname(fit$geese$alpha)
phi <- unname(fit$geese$gamma)
terms <- names(beta)

eta <- drop(X %*% beta)
mu <- plogis(eta)
v <- mu * (1 - mu)
parts <- lapply(split(seq_len(nrow(d)), d$id), function(i) {
  n <- length(i)
  D <- v[i] * X[i, , drop = FALSE]
  R <- matrix(alpha, n, n)
  diag(R) <- 1
  A <- diag(sqrt(v[i]), nrow = n)
  list(D = D, Vinv = solve(phi * A %*% R %*% A), r = d$y[i] - mu[i])
})
Binv <- solve(Reduce(`+`, lapply(parts, function(q) t(q$D) %*% q$Vinv %*% q$D)))
meat <- list(robust = 0, kauermann_carroll = 0, mancl_derouen = 0)
for (q in parts) {
  n <- length(q$r)
  DV <- t(q$D) %*% q$Vinv
  IH <- diag(n) - q$D %*% Binv %*% DV
  e <- eigen(IH)
  IH_half_inv <- Re(e$vectors %*% diag(1 / sqrt(Re(e$values)), nrow = n) %*% solve(e$vectors))
  u <- list(robust = DV %*% q$r, kauermann_carroll = DV %*% IH_half_inv %*% q$r,
            mancl_derouen = DV %*% solve(IH, q$r))
  for (k in names(u)) meat[[k]] <- meat[[k]] + u[[k]] %*% t(u[[k]])
}
covs <- lapply(meat, function(M) Binv %*% M %*% Binv)
stopifnot(isTRUE(all.equal(unname(covs$robust), unname(fit$geese$vbeta), tolerance = 1e-8)))
V <- covs$kauermann_carroll
df <- length(unique(d$id)) - length(beta)
q <- qt(0.975, df)

rows <- list()
add <- function(quantity, term, value) {
  rows[[length(rows) + 1L]] <<- data.frame(quantity = quantity, term = term,
                                           value = sprintf("%.17g", value),
                                           stringsAsFactors = FALSE)
}
add("epsilon", "", eps)
add("estimate", terms, beta)
add("alpha", "", alpha)
add("df", "", df)
for (k in c("kauermann_carroll", "mancl_derouen")) {
  add(paste0("cov_", k), as.vector(outer(terms, terms, paste, sep = ":")), as.vector(covs[[k]]))
}
ratio <- function(name, w) {
  est <- sum(w * beta)
  se <- sqrt(drop(w %*% V %*% w))
  add(name, "estimate", exp(est))
  add(name, "se_log", se)
  add(name, "p", 2 * pt(-abs(est / se), df))
  add(name, "ci_low", exp(est - q * se))
  add(name, "ci_high", exp(est + q * se))
}
w <- setNames(rep(0, length(beta)), terms)
w_or <- w; w_or[c("treatment", "a7")] <- 1
ratio("or_final", w_or)
w_did <- w; w_did["a7"] <- 1; w_did["a2"] <- -0.5
ratio("did", w_did)

last <- d[d$audit_time == 7, ]
X_last <- model.matrix(f, last)
X1 <- X_last; X1[, c("treatment", "a7")] <- 1
X0 <- X_last; X0[, c("treatment", "a7")] <- 0
rd <- function(b) mean(plogis(drop(X1 %*% b))) - mean(plogis(drop(X0 %*% b)))
g <- drop(numDeriv::jacobian(rd, beta))
se <- sqrt(drop(g %*% V %*% g))
add("rd_final", "estimate", rd(beta))
add("rd_final", "se", se)
add("rd_final", "ci_low", rd(beta) - q * se)
add("rd_final", "ci_high", rd(beta) + q * se)

L <- t(sapply(paste0("a", later), function(a) as.numeric(terms == a)))
Lb <- drop(L %*% beta)
F <- drop(Lb %*% solve(L %*% V %*% t(L), Lb)) / nrow(L)
add("wald", "F", F)
add("wald", "p", pf(F, nrow(L), df, lower.tail = FALSE))

out <- do.call(rbind, rows)
path <- file.path(out_dir, "audit_binary.csv")
con <- file(path, "w")
writeLines(sprintf("# generated by tests/reference/r/audit_binary.R on %s", Sys.Date()), con)
for (k in names(versions)) writeLines(sprintf("# %s: %s", k, versions[[k]]), con)
write.csv(out, con, row.names = FALSE)
close(con)
cat("wrote", path, "\n")
