# Reference values for the pooled analysis of binary and count outcomes
# (src/trial/analyses/glm_outcomes.py, src/trial/analyses/outcomes.py: fit_outcomes, pool_outcomes).
#
# Simulates a two-arm cluster trial shaped like the PULSE example (34 practices in 2 regions,
# a 0/1 outcome and a count at baseline and follow-up, age and sex, follow-up missing at
# random given age and baseline), imputes it with mice (2l.bin: random-intercept logistic
# model for the 0/1 outcome; pmm for the count) and writes tests/reference/fixtures/binary/:
#   completed.csv  the m completed datasets (column .imp), the input of the Python test
#   pooled.csv     per outcome and method: the arm coefficient pooled over the completed
#                  datasets by mitml::testEstimates(qhat, uhat, df.com = ...) with its 95%
#                  interval (confint), where each completed dataset is analysed by
#                  lme4::glmer(..., nAGQ = 10) (df.com: between-within df, clusters minus the
#                  number of cluster-level columns of the model matrix, counted here) or by
#                  geepack::geeglm(..., corstr = "exchangeable") with its robust covariance
#                  (df.com: clusters minus coefficients)
#   versions.csv   R, lme4, mice, mitml and geepack versions
# Run from the repository root:  Rscript tests/reference/r/binary_pooled.R
# Numbers are written with 17 significant digits so that they round-trip exactly.

suppressPackageStartupMessages({
  library(lme4)
  library(mice)
  library(mitml)
  library(geepack)
})

out_dir <- file.path("tests", "reference", "fixtures", "binary")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
num <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))

set.seed(20251201)
J <- 34
size <- pmax(8, round(30 * exp(rnorm(J, 0, 0.4))))
practice <- rep(sprintf("GP%03d", seq_len(J)), size)
region_of <- rep(c("east", "west"), length.out = J)
arm_of <- as.integer(ave(seq_len(J), region_of, FUN = function(i) sample(rep(0:1, length.out = length(i)))))
n <- length(practice)
idx <- match(practice, sprintf("GP%03d", seq_len(J)))
u <- rnorm(J, 0, 0.5)[idx]
age <- round(rnorm(n, 64, 11))
sex <- sample(c("female", "male"), n, replace = TRUE)
b0 <- rbinom(n, 1, plogis(-0.2 + u + 0.02 * (age - 64)))
y1 <- rbinom(n, 1, plogis(-0.4 + 0.5 * arm_of[idx] + 1.0 * b0 + u + 0.02 * (age - 64)))
c0 <- rpois(n, exp(1.3 + 0.5 * u))
c1 <- rpois(n, exp(1.0 - 0.2 * arm_of[idx] + 0.1 * c0 + 0.5 * u))
lost <- runif(n) < plogis(-1.6 - 0.03 * (age - 64) - 0.6 * b0)
data <- data.frame(
  patient_id = sprintf("PT%05d", seq_len(n)), practice_id = practice,
  treatment = arm_of[idx], region = region_of[idx], age = age, sex = sex,
  bp_controlled__baseline = b0, bp_controlled__followup = ifelse(lost, NA, y1),
  consultations__baseline = c0, consultations__followup = ifelse(lost, NA, c1)
)

# mice: 2l.bin needs the cluster as an integer (-2) and the other predictors as numbers
work <- data.frame(
  cluster = idx, treatment = data$treatment, west = as.integer(data$region == "west"),
  age = data$age, male = as.integer(data$sex == "male"),
  b0 = data$bp_controlled__baseline, y1 = data$bp_controlled__followup,
  c0 = data$consultations__baseline, c1 = data$consultations__followup
)
meth <- make.method(work)
meth["y1"] <- "2l.bin"
meth["c1"] <- "pmm"
pred <- make.predictorMatrix(work)
pred[, "cluster"] <- 0
pred["y1", "cluster"] <- -2
m <- 5
imp <- mice(work, m = m, method = meth, predictorMatrix = pred, maxit = 10, seed = 7,
            printFlag = FALSE)
completed <- do.call(rbind, lapply(seq_len(m), function(k) {
  w <- complete(imp, k)
  out <- data
  out$bp_controlled__followup <- w$y1
  out$consultations__followup <- w$c1
  cbind(.imp = k, out)
}))
write.csv(completed, file.path(out_dir, "completed.csv"), row.names = FALSE, quote = FALSE)

# between-within df: clusters minus the number of columns constant within every cluster
between_within <- function(X, cluster) {
  level2 <- apply(X, 2, function(x) all(tapply(x, cluster, function(v) length(unique(v)) == 1)))
  length(unique(cluster)) - sum(level2)
}
term <- "treatment"
rows <- list()
for (outcome in c("bp_controlled", "consultations")) {
  fam <- if (outcome == "bp_controlled") binomial() else poisson()
  f <- as.formula(sprintf("%s__followup ~ treatment + %s__baseline + region + age + sex",
                          outcome, outcome))
  for (method in c("glmm", "gee")) {
    qhat <- list(); uhat <- list(); dfc <- NA
    for (k in seq_len(m)) {
      d <- completed[completed$.imp == k, ]
      d <- d[order(d$practice_id), ]
      if (method == "glmm") {
        fit <- glmer(update(f, . ~ . + (1 | practice_id)), data = d, family = fam, nAGQ = 10)
        est <- fixef(fit)[term]; v <- as.matrix(vcov(fit))[term, term]
        dfc <- between_within(model.matrix(fit), d$practice_id)
      } else {
        d$cid <- as.integer(factor(d$practice_id))
        fit <- geeglm(f, data = d, id = cid, family = fam, corstr = "exchangeable")
        est <- coef(fit)[term]; v <- vcov(fit)[term, term]
        dfc <- J - length(coef(fit))
      }
      qhat[[k]] <- c(treatment = unname(est))
      uhat[[k]] <- matrix(v, 1, 1, dimnames = list(term, term))
    }
    te <- testEstimates(qhat = qhat, uhat = uhat, df.com = dfc)
    e <- te$estimates
    ci <- confint(te, level = 0.95)
    rows[[length(rows) + 1]] <- data.frame(
      outcome = outcome, method = method, m = m, df_complete = dfc,
      estimate = num(e[1, "Estimate"]), se = num(e[1, "Std.Error"]), df = num(e[1, "df"]),
      p = num(e[1, "P(>|t|)"]), riv = num(e[1, "RIV"]), fmi = num(e[1, "FMI"]),
      ci_low = num(ci[1, 1]), ci_high = num(ci[1, 2])
    )
  }
}
write.csv(do.call(rbind, rows), file.path(out_dir, "pooled.csv"), row.names = FALSE,
          quote = FALSE)
versions <- data.frame(
  package = c("R", "lme4", "mice", "mitml", "geepack"),
  version = c(paste(R.version$major, R.version$minor, sep = "."),
              as.character(packageVersion("lme4")), as.character(packageVersion("mice")),
              as.character(packageVersion("mitml")), as.character(packageVersion("geepack")))
)
write.csv(versions, file.path(out_dir, "versions.csv"), row.names = FALSE, quote = FALSE)
