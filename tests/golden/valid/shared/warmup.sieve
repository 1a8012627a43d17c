# Warm-up data, imported by both models files and directly by the import_cross cases (a
# diamond: it is merged once).
let warm_n = 3_000
stage warm = synth.arith(n = warm_n, digits = 1..2)
