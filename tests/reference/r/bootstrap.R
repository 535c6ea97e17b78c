# Reference values for the one-stage (cluster) bootstrap of src/trial/stats/bootstrap.py, from R boot.
#
# Reads tests/reference/data/bootstrap/clustered_costs.csv (made by make_data.py there) and
# writes tests/reference/fixtures/bootstrap/:
#   boot_summary.csv  t0, bootstrap SE, bias and the percentile interval (boot.ci type "perc")
#                     of R = 20000 replicates of boot(cluster rows, strata = arm x stratum)
#   boot_array.csv    the first 500 replicates: boot.array() frequencies of every cluster and t*
#   versions.csv      R and boot versions
# The statistic is the arm coefficient of the least-squares fit of cost on arm, baseline cost and
# stratum, each individual weighted by how often its cluster was drawn.
# Run from the repository root:  Rscript tests/reference/r/bootstrap.R

suppressPackageStartupMessages(library(boot))

data_dir <- file.path("tests", "reference", "data", "bootstrap")
out_dir <- file.path("tests", "reference", "fixtures", "bootstrap")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
num <- function(x) sprintf("%.17g", x)

people <- read.csv(file.path(data_dir, "clustered_costs.csv"), stringsAsFactors = FALSE)
clusters <- unique(people[, c("cluster", "treatment", "stratum")])
clusters <- clusters[order(clusters$cluster), ]
stopifnot(!anyDuplicated(clusters$cluster))
clusters$group <- factor(paste(clusters$treatment, clusters$stratum, sep = "|"))
cluster_row <- match(people$cluster, clusters$cluster)
X <- cbind(1, people$treatment, people$baseline, as.numeric(people$stratum == "B"))
y <- people$cost

statistic <- function(d, i) {
  w <- tabulate(i, nbins = nrow(d))[cluster_row]
  lm.wfit(X, y, w)$coefficients[2]
}

set.seed(20240601)
R <- 20000
b <- boot(clusters, statistic, R = R, strata = clusters$group)
ci <- boot.ci(b, conf = 0.95, type = "perc")
summary <- data.frame(
  t0 = num(b$t0), se = num(sd(b$t[, 1])), bias = num(mean(b$t[, 1]) - b$t0),
  perc_low = num(ci$percent[4]), perc_high = num(ci$percent[5]), R = R
)
write.csv(summary, file.path(out_dir, "boot_summary.csv"), row.names = FALSE, quote = FALSE)

freq <- boot.array(b)[1:500, ]
colnames(freq) <- clusters$cluster
array_out <- data.frame(replicate = 1:500, freq, t = num(b$t[1:500, 1]), check.names = FALSE)
write.csv(array_out, file.path(out_dir, "boot_array.csv"), row.names = FALSE, quote = FALSE)

versions <- data.frame(package = c("R", "boot"),
                       version = c(paste(R.version$major, R.version$minor, sep = "."),
                                   as.character(packageVersion("boot"))))
write.csv(versions, file.path(out_dir, "versions.csv"), row.names = FALSE, quote = FALSE)
