# Literal problems found while parsing, all reported together: an integer that does not
# fit in 64 bits, a float that overflows, an unknown string escape.
pipeline literals {
  let rows   = 99999999999999999999
  let lr     = 1e999
  let prompt = "Question:\qAnswer:"
  stage pool = synth.igsm(n = rows)
}
