# Syntax: a keyword used as a name.
pipeline reserved {
  stage pool = synth.igsm(n = 1_000)
  let in = 3
}
