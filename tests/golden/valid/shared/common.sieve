# Shared items (bare, no pipeline block): imported by import_same_syntax.sieve.
let seed = 11
let ops  = 2..8
stage pool = synth.igsm(n = 5_000, ops = ops)
stage test = synth.igsm(n = 500, ops = ops, seed = seed + 1)
stage init = model.init(arch = "nano")
