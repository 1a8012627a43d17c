# Syntax: floats need digits on both sides of the point (`0.5`, not `.5`).
pipeline leading_dot {
  stage pool  = synth.igsm(n = 1_000)
  stage train = split(pool, fraction = .8)
}
