# Syntax: a string that is never closed (strings do not span lines).
pipeline unterminated {
  stage pool = synth.igsm(n = 1_000, style = "compact)
  stage init = model.init(arch = "nano")
}
