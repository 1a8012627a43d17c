# Syntax: the `=` between a stage's name and its kind is missing.
pipeline missing_eq {
  stage pool = synth.igsm(n = 1_000)
  stage test synth.igsm(n = 100, seed = 1)
}
