# The p-values our QA stage reports, computed by R itself, for bench:compat.
# Usage: Rscript qa-pvalues.R <data.csv> <numeric columns, comma-separated> <categorical columns, comma-separated>
# Prints CSV: column_1,column_2,test,p_value, with every pair of numeric columns (Pearson), of categorical
# columns (chi-square test of independence, no continuity correction) and each categorical against each
# numeric column (one-way ANOVA with equal variances). Each pair uses the rows where both cells are present.
args <- commandArgs(trailingOnly = TRUE)
split_names <- function(text) if (is.na(text) || text == "") character(0) else strsplit(text, ",", fixed = TRUE)[[1]]
numeric_columns <- split_names(args[2])
categorical_columns <- split_names(args[3])
data <- read.csv(args[1], colClasses = "character", na.strings = "", check.names = FALSE, comment.char = "#")
as_number <- function(name) as.numeric(data[[name]])
out <- data.frame(column_1 = character(0), column_2 = character(0), test = character(0), p_value = numeric(0))
add <- function(a, b, test, p) out[nrow(out) + 1, ] <<- list(a, b, test, p)
for (i in seq_along(numeric_columns)) for (j in seq_along(numeric_columns)) if (i < j) {
  x <- as_number(numeric_columns[i]); y <- as_number(numeric_columns[j])
  keep <- !is.na(x) & !is.na(y)
  p <- tryCatch(cor.test(x[keep], y[keep], method = "pearson")$p.value, error = function(e) NA, warning = function(w) NA)
  add(numeric_columns[i], numeric_columns[j], "correlation", p)
}
for (i in seq_along(categorical_columns)) for (j in seq_along(categorical_columns)) if (i < j) {
  a <- data[[categorical_columns[i]]]; b <- data[[categorical_columns[j]]]
  keep <- !is.na(a) & !is.na(b)
  p <- tryCatch(suppressWarnings(chisq.test(table(a[keep], b[keep]), correct = FALSE)$p.value), error = function(e) NA)
  add(categorical_columns[i], categorical_columns[j], "chi_square", p)
}
for (c in categorical_columns) for (n in numeric_columns) {
  g <- data[[c]]; y <- as_number(n)
  keep <- !is.na(g) & !is.na(y)
  p <- tryCatch(oneway.test(y ~ g, data = data.frame(y = y[keep], g = factor(g[keep])), var.equal = TRUE)$p.value, error = function(e) NA)
  add(c, n, "anova", p)
}
write.csv(out, stdout(), row.names = FALSE)
