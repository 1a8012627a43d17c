# Syntax: ranges do not chain.
pipeline range_chain {
  stage pool = synth.igsm(n = 1_000, ops = 2..6..12)
}
