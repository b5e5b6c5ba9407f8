# SPDX-License-Identifier: BSD-2-Clause
# auc.awk - ROC AUC of lines "SCORE LABEL" (LABEL 1 = positive), sorted by
# SCORE ascending (sort -g), ties counted half. Prints the AUC.
{
    s[NR] = $1; y[NR] = $2
    if ($2 == 1) npos++; else nneg++
}
END {
    i = 1
    while (i <= NR) {
        j = i
        while (j <= NR && s[j] == s[i]) j++
        mid = (i + j - 1) / 2
        for (k = i; k < j; k++) if (y[k] == 1) rank += mid
        i = j
    }
    if (npos == 0 || nneg == 0) { print 0.5; exit }
    printf "%.4f\n", (rank - npos * (npos + 1) / 2) / (npos * nneg)
}
