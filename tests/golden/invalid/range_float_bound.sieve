# Range bounds must be integers, and `/` always gives a float: `hi = 8 / 2` is 4.0.
pipeline range_float_bound {
  let hi = 8 / 2
  stage pool = synth.igsm(n = 1_000, ops = 2..hi)
  stage more = synth.igsm(n = 1_000, ops = 2.0..6)
}
