# Fit R's flexmix grouped mixtures from random starts; report JSON.
#
# MODE "export-betablocker": write flexmix's betablocker data to DATA.csv (Treatment as
# 0/1) and stop. MODE "betablocker": cbind(Deaths, Total - Deaths) ~ Treatment | Center
# with FLXMRglm(family = "binomial") on DATA.csv. MODE "gaussian": y ~ x | group with
# FLXMRglm() (Gaussian) on DATA.csv. Both with flexmix's default constant concomitant
# model (FLXPconstant: mixing proportions only), fitted STARTS times, each from
# flexmix's own random start after set.seed(seed), seed = 1..STARTS. Each fit's
# log-likelihood (logLik), components left, EM iterations and seconds are recorded;
# only the call to flexmix() is timed. For the binomial model the sum of the log
# binomial coefficients is reported too ("log_binomial_coefficients").
#
# Usage:
#   Rscript flexmix_grouped.R MODE DATA.csv K STARTS ITER_MAX MINPRIOR TOLERANCE OUT.json

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 8 && !(length(args) >= 2 && args[1] == "export-betablocker")) {
  stop(paste("usage: Rscript flexmix_grouped.R MODE DATA.csv K STARTS ITER_MAX",
             "MINPRIOR TOLERANCE OUT.json"))
}
suppressPackageStartupMessages(library(flexmix))
mode <- args[1]
if (mode == "export-betablocker") {
  data("betablocker", package = "flexmix")
  out <- data.frame(Deaths = betablocker$Deaths, Total = betablocker$Total,
                    Center = betablocker$Center,
                    Treatment = as.integer(betablocker$Treatment == "Treated"))
  write.csv(out, args[2], row.names = FALSE)
  quit(save = "no")
}

data <- read.csv(args[2])
k <- as.integer(args[3])
starts <- as.integer(args[4])
control <- list(iter.max = as.integer(args[5]), minprior = as.numeric(args[6]),
                tolerance = as.numeric(args[7]))
constant <- 0
if (mode == "betablocker") {
  formula <- cbind(Deaths, Total - Deaths) ~ Treatment | Center
  model <- FLXMRglm(family = "binomial")
  constant <- sum(lchoose(data$Total, data$Deaths))
} else if (mode == "gaussian") {
  formula <- y ~ x | group
  model <- FLXMRglm()
} else {
  stop(paste("unknown mode", mode))
}

fits <- character(starts)
for (seed in seq_len(starts)) {
  invisible(gc())
  set.seed(seed)
  error_text <- ""
  fit <- NULL
  seconds <- system.time(
    fit <- tryCatch(
      flexmix(formula, data = data, k = k, model = model, control = control),
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
writeLines(sprintf(paste0('{"n": %d, "k": %d, "log_binomial_coefficients": %.17g, ',
                          '"flexmix_version": "%s", "r_version": "%s", "fits": [%s]}'),
                   nrow(data), k, constant, as.character(packageVersion("flexmix")),
                   R.version.string, paste(fits, collapse = ", ")), args[8])
