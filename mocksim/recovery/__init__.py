"""Recovery: the analysis observers run (line fits, binning, metallicity, gradients)."""
