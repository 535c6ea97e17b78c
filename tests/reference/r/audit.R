# Reference values for src/trial/analyses/audit/data.py and audit_models.py: cluster-robust summaries and arm x time models.
#
# Reads tests/reference/data/audit/audit_long.csv (made by make_data.py there) and writes
# tests/reference/fixtures/audit/audit.csv with columns outcome, block, quantity, term, term2,
# value, after '#' lines recording the R and package versions:
#   block "by_time"  per audit_time and arm: mean of y and its SE from
#                    sandwich::vcovCL(lm(y ~ 1), cluster = ~team_id, type = "HC0",
#                    cadjust = TRUE), i.e. G/(G-1) * sum_g (sum_i e_i)^2 / n^2.
#   block "panel"    lm(y ~ 0 + factor(audit_id) + time dummies + treatment x time dummies)
#                    (individual fixed effects by least-squares dummies), with the CR2
#                    covariance of clubSandwich::vcovCR(type = "CR2", cluster = team_id):
#                    coefficients, CR2 covariance and Satterthwaite df (coef_test) of the six
#                    interactions; the HTZ test of all six (Wald_test(test = "HTZ")); and the
#                    difference-in-differences a7 - a2 / 2 as a one-row HTZ test (F = t^2, its
#                    denominator df the Satterthwaite df).
#   block "mixed"    the cluster-period model: each team's mean of y at each audit time, as a
#                    7-column response; lm(cbind(m1..m7) ~ treatment + trust2gether) (per-time
#                    arm effects; residual df nu); anova() of lm(D ~ treatment + trust2gether)
#                    against the model without treatment, with D the six differences
#                    m_t - m_1, test = "Hotelling-Lawley" (Hotelling's T^2 as an exact F);
#                    and nlme::gls of the long team x time means on time, time x treatment and
#                    time x trust with an unstructured covariance (corSymm + varIdent by
#                    time), REML: the arm x time contrasts (arm effect at t minus at time 1),
#                    the difference at time 7 and the difference-in-differences with their
#                    standard errors.
# Run from the repository root:  Rscript tests/reference/r/audit.R
# Numbers are written with 17 significant digits.

suppressPackageStartupMessages({
  library(sandwich)
  library(clubSandwich)
  library(nlme)
})

data_dir <- file.path("tests", "reference", "data", "audit")
out_dir <- file.path("tests", "reference", "fixtures", "audit")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

d <- read.csv(file.path(data_dir, "audit_long.csv"), stringsAsFactors = FALSE)
times <- sort(unique(d$audit_time))
later <- times[-1]
for (t in later) {
  d[[paste0("t", t)]] <- as.numeric(d$audit_time == t)
  d[[paste0("a", t)]] <- d$treatment * as.numeric(d$audit_time == t)
}
d$trust2gether <- as.numeric(d$trust == "2gether")
tt <- paste0("t", later)
aa <- paste0("a", later)

rows <- list()
add <- function(outcome, block, quantity, term, term2, value) {
  rows[[length(rows) + 1]] <<- data.frame(
    outcome = outcome, block = block, quantity = quantity, term = term, term2 = term2,
    value = sprintf("%.17g", value), stringsAsFactors = FALSE)
}

for (outcome in c("items_documented", "values_documented")) {
  d$y <- d[[outcome]]

  # per time point and arm
  for (t in times) for (arm in c(0, 1)) {
    s <- d[d$audit_time == t & d$treatment == arm, ]
    fit <- lm(y ~ 1, data = s)
    v <- vcovCL(fit, cluster = ~team_id, type = "HC0", cadjust = TRUE)
    key <- paste0("time", t, "_arm", arm)
    add(outcome, "by_time", "estimate", key, "", coef(fit)[[1]])
    add(outcome, "by_time", "se", key, "", sqrt(v[1, 1]))
    add(outcome, "by_time", "n_clusters", key, "", length(unique(s$team_id)))
  }

  # fixed-effects panel model by least-squares dummies, CR2 covariance
  f_panel <- as.formula(paste("y ~ 0 + factor(audit_id) +", paste(c(tt, aa), collapse = " + ")))
  fit <- lm(f_panel, data = d)
  v <- vcovCR(fit, cluster = d$team_id, type = "CR2")
  ct <- coef_test(fit, vcov = v, test = "Satterthwaite", coefs = aa)
  for (a in aa) {
    add(outcome, "panel", "estimate", a, "", coef(fit)[[a]])
    add(outcome, "panel", "df", a, "", ct$df_Satt[ct$Coef == a])
    for (b in aa) add(outcome, "panel", "cov_cr2", a, b, v[a, b])
  }
  wt <- Wald_test(fit, constraints = constrain_zero(aa), vcov = v, test = "HTZ")
  add(outcome, "panel", "F", "arm_x_time", "", wt$Fstat)
  add(outcome, "panel", "num_df", "arm_x_time", "", wt$df_num)
  add(outcome, "panel", "den_df", "arm_x_time", "", wt$df_denom)
  l_did <- matrix(0, 1, length(coef(fit)), dimnames = list("did", names(coef(fit))))
  l_did[1, paste0("a", max(times))] <- 1
  l_did[1, "a2"] <- -0.5
  wd <- Wald_test(fit, constraints = l_did, vcov = v, test = "HTZ")
  add(outcome, "panel", "t_squared", "did_final_vs_pre", "", wd$Fstat)
  add(outcome, "panel", "df", "did_final_vs_pre", "", wd$df_denom)
  add(outcome, "panel", "n_clusters", "", "", length(unique(d$team_id)))

  # cluster-period model: team means per audit time
  means <- aggregate(y ~ team_id + audit_time, data = d, FUN = mean)
  teams <- unique(d[, c("team_id", "treatment", "trust2gether")])
  teams <- teams[order(teams$team_id), ]
  Y <- sapply(times, function(t) {
    m <- means[means$audit_time == t, ]
    m$y[match(teams$team_id, m$team_id)]
  })
  colnames(Y) <- paste0("m", times)
  mlm <- lm(Y ~ treatment + trust2gether, data = teams)
  for (t in times) add(outcome, "mixed", "arm_effect", paste0("m", t), "", coef(mlm)["treatment", t])
  add(outcome, "mixed", "df", "", "", mlm$df.residual)
  D <- Y[, -1] - Y[, 1]
  fit_d <- lm(D ~ treatment + trust2gether, data = teams)
  hl <- anova(fit_d, update(fit_d, . ~ . - treatment), test = "Hotelling-Lawley")
  add(outcome, "mixed", "F", "arm_x_time", "", hl[2, "approx F"])
  add(outcome, "mixed", "num_df", "arm_x_time", "", hl[2, "num Df"])
  add(outcome, "mixed", "den_df", "arm_x_time", "", hl[2, "den Df"])
  long_m <- data.frame(
    team_id = rep(teams$team_id, times = length(times)),
    treatment = rep(teams$treatment, times = length(times)),
    trust2gether = rep(teams$trust2gether, times = length(times)),
    tnum = rep(seq_along(times), each = nrow(teams)),
    m = as.vector(Y))
  long_m$time <- factor(long_m$tnum)
  g <- gls(m ~ 0 + time + time:treatment + time:trust2gether, data = long_m,
           correlation = corSymm(form = ~ tnum | team_id),
           weights = varIdent(form = ~ 1 | time), method = "REML",
           control = glsControl(tolerance = 1e-10, msTol = 1e-10, maxIter = 500, msMaxIter = 500))
  b <- coef(g)
  V <- vcov(g)
  arm <- paste0("time", seq_along(times), ":treatment")
  contrast <- function(w) {
    l <- setNames(rep(0, length(b)), names(b))
    l[arm] <- w
    c(sum(l * b), sqrt(drop(t(l) %*% V %*% l)))
  }
  for (k in seq_along(times)[-1]) {
    w <- rep(0, length(times)); w[k] <- 1; w[1] <- -1
    r <- contrast(w)
    add(outcome, "mixed", "estimate", paste0("a", times[k]), "", r[1])
    add(outcome, "mixed", "se", paste0("a", times[k]), "", r[2])
  }
  w_diff <- rep(0, length(times)); w_diff[length(times)] <- 1
  w_did <- w_diff; w_did[1:2] <- -0.5
  for (q in list(list("difference_at_final_time", w_diff), list("did_final_vs_pre", w_did))) {
    r <- contrast(q[[2]])
    add(outcome, "mixed", "estimate", q[[1]], "", r[1])
    add(outcome, "mixed", "se", q[[1]], "", r[2])
  }
}

out <- do.call(rbind, rows)
path <- file.path(out_dir, "audit.csv")
header <- c(
  paste("# generated by tests/reference/r/audit.R on", Sys.Date()),
  paste("# R:", R.version.string),
  paste("# sandwich:", packageVersion("sandwich")),
  paste("# clubSandwich:", packageVersion("clubSandwich")),
  paste("# nlme:", packageVersion("nlme"))
)
writeLines(header, path)
suppressWarnings(write.table(out, path, sep = ",", row.names = FALSE, quote = FALSE,
                             append = TRUE))
