# Reference values for a post-only three-arm cluster trial analysed by the pipeline
# (tests/reference/test_post_only_vs_r.py): no baseline term, a 42-level randomisation stratum,
# individual covariates, Kenward-Roger df.
#
# Reads the raw tables tests/reference/data/post_only/{classes,pupils,tests}.csv (made by
# make_data.py there) and writes tests/reference/fixtures/post_only/:
#   lmer_kr.csv   the model math ~ arm + school + sex + age_months + (1 | class_id), REML, each
#                 arm vs control (lmerTest summary, Kenward-Roger by pbkrtest) and tutoring vs
#                 software (lmerTest::contest1D, Kenward-Roger): estimate, SE, df; and the
#                 variance components.
#   lmer_kr_covariates.csv  the same with a cluster-level covariate (teacher_years) and blank
#                 ages handled by the missing-indicator method (see below): each arm vs control,
#                 and the indicator's and the cluster covariate's coefficients.
#   versions.csv  R and package versions.
# Run from the repository root:  Rscript tests/reference/r/post_only.R
# Numbers are written with 17 significant digits so that they round-trip exactly.

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
})

data_dir <- file.path("tests", "reference", "data", "post_only")
out_dir <- file.path("tests", "reference", "fixtures", "post_only")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
num <- function(x) sprintf("%.17g", x)

classes <- read.csv(file.path(data_dir, "classes.csv"), colClasses = "character")
pupils <- read.csv(file.path(data_dir, "pupils.csv"), colClasses = "character")
scores <- read.csv(file.path(data_dir, "tests.csv"), colClasses = "character")
d <- merge(merge(pupils, classes, by = "class_id"), scores, by = "pupil_id")
d$math <- as.numeric(d$math)
d$age_months <- as.numeric(d$age_months)  # "131.0" is 131
# Reference levels as the config declares them: the first code of each category.
d$arm <- factor(d$arm, levels = c("control", "tutoring", "software"))
d$school <- factor(d$school, levels = sprintf("S%02d", 1:42))
d$sex <- factor(d$sex, levels = c("boy", "girl"))

ctrl <- lmerControl(
  optimizer = "nloptwrap",
  optCtrl = list(xtol_abs = 1e-14, ftol_abs = 1e-16, xtol_rel = 1e-14, ftol_rel = 1e-16,
                 maxeval = 100000),
  check.conv.singular = "ignore"
)
m <- lmer(math ~ arm + school + sex + age_months + (1 | class_id), data = d, REML = TRUE,
          control = ctrl)
coefs <- summary(m, ddf = "Kenward-Roger")$coefficients
rows <- list()
for (arm in c("tutoring", "software")) {
  term <- paste0("arm", arm)
  rows[[arm]] <- data.frame(
    arm = arm, versus = "control", estimate = num(coefs[term, "Estimate"]),
    se = num(coefs[term, "Std. Error"]), df = num(coefs[term, "df"])
  )
}
L <- setNames(rep(0, length(fixef(m))), names(fixef(m)))
L["armsoftware"] <- 1
L["armtutoring"] <- -1
pair <- contest1D(m, L, ddf = "Kenward-Roger")
rows[["pair"]] <- data.frame(
  arm = "software", versus = "tutoring", estimate = num(pair$Estimate),
  se = num(pair[["Std. Error"]]), df = num(pair$df)
)
out <- do.call(rbind, rows)
vc <- as.data.frame(VarCorr(m))
out$var_cluster <- num(vc$vcov[vc$grp == "class_id"])
out$var_residual <- num(vc$vcov[vc$grp == "Residual"])
out$n_individuals <- nrow(d)
out$n_clusters <- length(unique(d$class_id))
write.csv(out, file.path(out_dir, "lmer_kr.csv"), row.names = FALSE, quote = FALSE)

# The same trial with a cluster-level covariate and blank covariates handled by the missing-
# indicator method (config analysis/covariate_missing: indicator): teacher_years, a class-table
# column, is (class number x 7) mod 31; the age of every pupil whose number is a multiple of 97
# is blank, set to the mean of the observed ages, with an indicator of the blank.
d$teacher_years <- (as.integer(substring(d$class_id, 2)) * 7) %% 31
blank <- as.integer(substring(d$pupil_id, 2)) %% 97 == 0
d$age_months[blank] <- NA
d$age_missing <- as.numeric(blank)
d$age_filled <- ifelse(blank, mean(d$age_months, na.rm = TRUE), d$age_months)
m2 <- lmer(math ~ arm + school + sex + age_filled + age_missing + teacher_years + (1 | class_id),
           data = d, REML = TRUE, control = ctrl)
coefs2 <- summary(m2, ddf = "Kenward-Roger")$coefficients
rows2 <- list()
for (arm in c("tutoring", "software")) {
  term <- paste0("arm", arm)
  rows2[[arm]] <- data.frame(
    arm = arm, versus = "control", estimate = num(coefs2[term, "Estimate"]),
    se = num(coefs2[term, "Std. Error"]), df = num(coefs2[term, "df"])
  )
}
for (term in c("age_missing", "teacher_years")) {
  rows2[[term]] <- data.frame(
    arm = term, versus = "", estimate = num(coefs2[term, "Estimate"]),
    se = num(coefs2[term, "Std. Error"]), df = num(coefs2[term, "df"])
  )
}
out2 <- do.call(rbind, rows2)
out2$n_blank <- sum(blank)
write.csv(out2, file.path(out_dir, "lmer_kr_covariates.csv"), row.names = FALSE, quote = FALSE)

versions <- data.frame(
  package = c("R", "lme4", "lmerTest", "pbkrtest"),
  version = c(paste(R.version$major, R.version$minor, sep = "."),
              as.character(packageVersion("lme4")), as.character(packageVersion("lmerTest")),
              as.character(packageVersion("pbkrtest")))
)
write.csv(versions, file.path(out_dir, "versions.csv"), row.names = FALSE, quote = FALSE)
