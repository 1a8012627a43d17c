# Syntax: a number with a trailing `_` separator.
pipeline bad_number {
  stage pool = synth.igsm(n = 100_000_, ops = 2..12)
}
