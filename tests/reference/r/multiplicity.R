# Reference values for active-vs-active contrasts (src/trial/analyses/outcomes.py, fit_outcomes) and
# Holm's adjustment (src/trial/analyses/multiplicity.py).
#
# Writes tests/reference/fixtures/multiplicity/:
#   trio_pairwise.csv  the three-arm TRIO example's primary model on its complete cases
#                      (tests/reference/data/mixed/trio_example.csv, as in mixed_models.R
#                      section h), REML, and the contrast "self-help plus groups minus guided
#                      self-help" (L = e_plus_groups - e_guided) tested by lmerTest::contest1D
#                      with Kenward-Roger (pbkrtest) and Satterthwaite df.
#   holm.csv           stats::p.adjust(p, method = "holm") of committed p-value vectors.
#   versions.csv       R and package versions.
# Run from the repository root:  Rscript tests/reference/r/multiplicity.R
# Numbers are written with 17 significant digits so that they round-trip exactly.

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
})

data_dir <- file.path("tests", "reference", "data", "mixed")
out_dir <- file.path("tests", "reference", "fixtures", "multiplicity")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
num <- function(x) sprintf("%.17g", x)

ctrl <- lmerControl(
  optimizer = "nloptwrap",
  optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-15, xtol_rel = 1e-12, ftol_rel = 1e-15,
                 maxeval = 100000),
  check.conv.singular = "ignore"
)
trio <- read.csv(file.path(data_dir, "trio_example.csv"))
trio$allocation <- factor(trio$allocation,
                          levels = c("usual_care", "guided_self_help", "self_help_plus_groups"))
trio$region <- factor(trio$region, levels = c("north", "midlands", "south"))
trio$sex <- factor(trio$sex, levels = c("female", "male"))
m <- lmer(phq9__followup ~ allocation + phq9__baseline + region + age + sex + (1 | practice_id),
          data = trio, REML = TRUE, control = ctrl)
terms <- names(fixef(m))
L <- setNames(rep(0, length(terms)), terms)
L["allocationself_help_plus_groups"] <- 1
L["allocationguided_self_help"] <- -1
rows <- list()
for (ddf in c("Kenward-Roger", "Satterthwaite")) {
  res <- contest1D(m, L, ddf = ddf)
  rows[[ddf]] <- data.frame(
    ddf = ddf, estimate = num(res$Estimate), se = num(res[["Std. Error"]]), df = num(res$df),
    t = num(res[["t value"]]), p = num(res[["Pr(>|t|)"]])
  )
}
write.csv(do.call(rbind, rows), file.path(out_dir, "trio_pairwise.csv"), row.names = FALSE,
          quote = FALSE)

cases <- list(
  mixed = c(0.012, 0.04, 0.30, 0.0021, 0.049),
  ties = c(0.01, 0.01, 0.02, 0.8),
  capped = c(0.2, 0.5, 0.9)
)
holm_rows <- list()
for (name in names(cases)) {
  p <- cases[[name]]
  holm_rows[[name]] <- data.frame(case = name, position = seq_along(p), p = num(p),
                                  p_holm = num(p.adjust(p, method = "holm")))
}
write.csv(do.call(rbind, holm_rows), file.path(out_dir, "holm.csv"), row.names = FALSE,
          quote = FALSE)

versions <- data.frame(
  package = c("R", "lme4", "lmerTest", "pbkrtest"),
  version = c(paste(R.version$major, R.version$minor, sep = "."),
              as.character(packageVersion("lme4")), as.character(packageVersion("lmerTest")),
              as.character(packageVersion("pbkrtest")))
)
write.csv(versions, file.path(out_dir, "versions.csv"), row.names = FALSE, quote = FALSE)
