# Fit R's flexmix Poisson mixture of experts from random starts on the data written by
# bench_flexmix_poisson.py; report JSON.
#
# A mixture of K Poisson regressions with log link (FLXMRglm(family = "poisson")) and a
# multinomial logit concomitant model (FLXPmultinom(): the softmax gate), fitted STARTS
# times, each from flexmix's own random start after set.seed(seed), seed = 1..STARTS.
# Each fit's log-likelihood (logLik), components left, EM iterations and seconds are
# recorded; only the call to flexmix() is timed. A fit that stops with an error is
# recorded with "error" and a null log-likelihood.
#
# Usage:
#   Rscript flexmix_poisson.R DATA.csv GATE_COLUMNS K STARTS ITER_MAX MINPRIOR TOLERANCE OUT.json \
#     [EXPERT_COLUMNS]
# The experts regress y on EXPERT_COLUMNS (comma-separated), by default on every other column.

args <- commandArgs(trailingOnly = TRUE)
if (!(length(args) %in% c(8, 9))) {
  stop(paste("usage: Rscript flexmix_poisson.R DATA.csv GATE_COLUMNS K STARTS ITER_MAX",
             "MINPRIOR TOLERANCE OUT.json [EXPERT_COLUMNS]"))
}
suppressPackageStartupMessages(library(flexmix))

data <- read.csv(args[1])
gate_columns <- strsplit(args[2], ",", fixed = TRUE)[[1]]
k <- as.integer(args[3])
starts <- as.integer(args[4])
control <- list(iter.max = as.integer(args[5]), minprior = as.numeric(args[6]),
                tolerance = as.numeric(args[7]))
gate_formula <- as.formula(paste("~", paste(gate_columns, collapse = " + ")))
expert_formula <- if (length(args) == 9) {
  as.formula(paste("y ~", paste(strsplit(args[9], ",", fixed = TRUE)[[1]], collapse = " + ")))
} else {
  y ~ .
}

fits <- character(starts)
for (seed in seq_len(starts)) {
  invisible(gc())
  set.seed(seed)
  error_text <- ""
  fit <- NULL
  seconds <- system.time(
    fit <- tryCatch(
      flexmix(expert_formula, data = data, k = k, model = FLXMRglm(family = "poisson"),
              concomitant = FLXPmultinom(gate_formula), control = control),
      error = function(e) {
        error_text <<- gsub('"', "'", trimws(conditionMessage(e)))
        NULL
      }
    )
  )[["elapsed"]]
  fits[seed] <- if (is.null(fit)) {
    sprintf('{"seed": %d, "loglik": null, "k": null, "iter": null, "seconds": %.6f, "error": "%s"}',
            seed, seconds, error_text)
  } else {
    sprintf('{"seed": %d, "loglik": %.17g, "k": %d, "iter": %d, "seconds": %.6f, "error": null}',
            seed, as.numeric(logLik(fit)), as.integer(fit@k), as.integer(fit@iter), seconds)
  }
}
writeLines(sprintf('{"n": %d, "k": %d, "flexmix_version": "%s", "r_version": "%s", "fits": [%s]}',
                   nrow(data), k, as.character(packageVersion("flexmix")), R.version.string,
                   paste(fits, collapse = ", ")), args[8])
