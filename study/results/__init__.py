"""A study read back: `records` (one per trial, from the study directory), `analysis` (best, Pareto, confirmed
results, paired comparisons), `tables` (text and Markdown), `stats` (intervals and tests), `best` (the best
checkpoint)."""
